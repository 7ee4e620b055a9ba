# Sourced by test.sh and demo.sh before any long step: checks what they need and says what is
# missing and the command that installs it, instead of failing midway.
#
#   prereq_check GIB   # GIB: free disk space the first build needs (less once target/ exists)

source scripts/cargo-dir.sh

prereq_fail() {
  echo "prerequisite missing: $1" >&2
  echo "  install: $2" >&2
  prereq_missing=1
}

prereq_check() {
  local need_gib=$1
  prereq_missing=0
  # Rust, at least the workspace's rust-version.
  local want have
  want=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -1)
  if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
    prereq_fail "a Rust toolchain (cargo, rustc $want or later)" \
      "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
  else
    have=$(rustc --version | awk '{print $2}')
    if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" != "$want" ]; then
      prereq_fail "rustc $want or later (this one is $have)" "rustup update stable"
    fi
  fi
  # Python 3 (the scripts' helpers; the tools' virtual environment needs venv, which
  # scripts/tools.sh installs with apt when it can).
  if ! command -v python3 >/dev/null 2>&1; then
    prereq_fail "Python 3.9 or later" "sudo apt-get install python3 python3-venv"
  elif ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
    prereq_fail "Python 3.9 or later (this one is $(python3 --version 2>&1))" "sudo apt-get install python3 python3-venv"
  elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
    && ! { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }; then
    prereq_fail "Python's venv module (with ensurepip)" "sudo apt-get install python3-venv"
  fi
  # Disk: the first build of DataFusion, SQLite and the AWS SDK takes several GiB.
  # (cargo may be missing yet: it is reported above; then its default place is checked.)
  local dir free_kib
  dir=$(cargo_target_dir 2>/dev/null) || dir=target
  [ -d "$dir" ] && need_gib=$(( need_gib / 4 + 1 ))
  mkdir -p "$dir"
  free_kib=$(df -Pk "$dir" | awk 'NR == 2 {print $4}')
  if [ "$free_kib" -lt $(( need_gib * 1024 * 1024 )) ]; then
    prereq_fail "$need_gib GiB free for the build in $dir (there are $(( free_kib / 1024 / 1024 )) GiB)" \
      "free some space, or point CARGO_TARGET_DIR at a larger disk"
  fi
  if [ "$prereq_missing" = 1 ]; then
    return 1
  fi
}
