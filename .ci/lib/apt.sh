# Sourced by the scripts of .ci/install.d: the one way they install Debian packages.
#   have TOOL              — TOOL is on PATH
#   apt_install WHO PKG…   — apt-get update, then install PKG… without recommends, as root or with
#                            sudo; WHO (the calling script) names a missing root/sudo in its error.

have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
    local who="$1"
    shift
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if have sudo; then
            sudo="sudo"
        else
            echo "$who: need root or sudo to apt-get install $*" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "$@"
}
