# Sourced by the scripts: puts the project's Python tools (scripts/tools-requirements.txt, pinned)
# on PATH from one project-local virtual environment, target/tools-venv, created and brought up
# to date when the requirements change. Nothing is installed into the system Python, which
# Debian and Ubuntu mark externally managed (PEP 668) and whose pip refuses to install.

tools_venv_dir=${STORE_TOOLS_VENV:-target/tools-venv}

# Creates the environment; on Debian and Ubuntu `venv` needs the python3-venv package.
tools_create_venv() {
  if python3 -m venv "$tools_venv_dir" >/dev/null 2>&1 && [ -x "$tools_venv_dir/bin/pip" ]; then
    return
  fi
  rm -rf "$tools_venv_dir"
  if command -v apt-get >/dev/null 2>&1; then
    local apt_get=(apt-get)
    [ "$(id -u)" = 0 ] || apt_get=(sudo apt-get)
    echo "python3 cannot create a virtual environment; installing Debian's python3-venv" >&2
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  if ! python3 -m venv "$tools_venv_dir" || [ ! -x "$tools_venv_dir/bin/pip" ]; then
    echo "cannot create a Python virtual environment: install Python 3 with venv (Debian/Ubuntu: sudo apt-get install python3-venv)" >&2
    return 1
  fi
}

# The requirements a script installs: the test tools unless it names its own.
tools_requirements=${tools_requirements:-scripts/tools-requirements.txt}

tools_use_venv() {
  local requirements=$tools_requirements stamp="$tools_venv_dir/.requirements.sha256"
  if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 is missing: install Python 3.9 or later (Debian/Ubuntu: sudo apt-get install python3 python3-venv)" >&2
    return 1
  fi
  [ -x "$tools_venv_dir/bin/python" ] || tools_create_venv || return 1
  if [ "$(sha256sum "$requirements" | cut -d' ' -f1)" != "$(cat "$stamp" 2>/dev/null)" ]; then
    "$tools_venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" || return 1
    sha256sum "$requirements" | cut -d' ' -f1 > "$stamp"
  fi
  PATH="$(cd "$tools_venv_dir" && pwd)/bin:$PATH"
  export PATH
}
