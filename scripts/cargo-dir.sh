# Sourced by the scripts: where cargo puts what it builds, asked of cargo itself, so a
# CARGO_TARGET_DIR (relative or absolute) or a `build.target-dir` setting is honoured the way
# cargo honours it. Prints the directory (absolute).
cargo_target_dir() {
  local dir
  dir=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  if [[ -z "$dir" ]]; then
    echo "cannot ask cargo where it builds (cargo metadata failed)" >&2
    return 1
  fi
  printf '%s\n' "$dir"
}
