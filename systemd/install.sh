#!/bin/sh
# Install p2pd from a built checkout (npm ci && npm run build) as a system service:
#   program   -> $PREFIX/lib/p2pd (dist, package.json, production node_modules)
#   commands  -> $PREFIX/bin/p2pd, p2pctl, p2p-broker (symlinks)
#   units     -> /etc/systemd/system/p2pd.service, p2p-broker.service
#   users     -> /etc/sysusers.d/p2pd.conf, applied with systemd-sysusers (users p2pd, p2p-broker)
#   config    -> /etc/p2pd/p2pd.toml (only if absent)
# Then: systemctl enable --now p2pd   (and p2p-broker on the machine that runs the broker).
# Options: --prefix DIR (default /usr/local), --no-reload (skip systemctl daemon-reload).
# Env UNIT_DIR, SYSUSERS_DIR, CONF_DIR override the other targets.
set -eu

prefix=/usr/local
reload=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --no-reload) reload=no; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

src=$(cd "$(dirname "$0")/.." && pwd)
lib=$prefix/lib/p2pd
bindir=$prefix/bin
unit_dir=${UNIT_DIR:-/etc/systemd/system}
sysusers_dir=${SYSUSERS_DIR:-/etc/sysusers.d}
conf_dir=${CONF_DIR:-/etc/p2pd}

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (it writes $prefix, $unit_dir and /etc)" >&2; exit 1; }
[ -f "$src/dist/daemon/bin.js" ] || { echo "install.sh: $src/dist is missing; run 'npm ci && npm run build' first" >&2; exit 1; }
[ -d "$src/node_modules" ] || { echo "install.sh: $src/node_modules is missing; run 'npm ci' first" >&2; exit 1; }

echo "installing the program in $lib"
mkdir -p "$prefix/lib" "$bindir"
rm -rf "$lib.new"
mkdir -p "$lib.new"
cp -R "$src/dist" "$src/package.json" "$lib.new/"
# "/." follows a node_modules that is itself a symlink (a git worktree's, say).
mkdir "$lib.new/node_modules"
cp -R "$src/node_modules/." "$lib.new/node_modules/"
[ -f "$src/package-lock.json" ] && cp "$src/package-lock.json" "$lib.new/"
[ -f "$src/README.md" ] && cp "$src/README.md" "$lib.new/"
# Drop the build and test tools; this needs no network.
if command -v npm >/dev/null 2>&1; then
  (cd "$lib.new" && npm prune --omit=dev --no-audit --no-fund --offline --loglevel=error >/dev/null) \
    || echo "install.sh: npm prune failed; keeping the build tools in $lib/node_modules (harmless, just bigger)" >&2
fi
chmod -R u=rwX,go=rX "$lib.new"
chmod 0755 "$lib.new/dist/daemon/bin.js" "$lib.new/dist/ctl/bin.js" "$lib.new/dist/broker/bin.js"
rm -rf "$lib.old"
[ -e "$lib" ] && mv "$lib" "$lib.old"
mv "$lib.new" "$lib"
rm -rf "$lib.old"
ln -sf "$lib/dist/daemon/bin.js" "$bindir/p2pd"
ln -sf "$lib/dist/ctl/bin.js" "$bindir/p2pctl"
ln -sf "$lib/dist/broker/bin.js" "$bindir/p2p-broker"

echo "installing units in $unit_dir"
mkdir -p "$unit_dir" "$sysusers_dir" "$conf_dir"
for u in p2pd.service p2p-broker.service; do
  sed "s#/usr/local/#$prefix/#g" "$src/systemd/$u" > "$unit_dir/$u.tmp"
  chmod 0644 "$unit_dir/$u.tmp"
  mv "$unit_dir/$u.tmp" "$unit_dir/$u"
done
install -m 0644 "$src/systemd/sysusers.d/p2pd.conf" "$sysusers_dir/p2pd.conf"
systemd-sysusers "$sysusers_dir/p2pd.conf"
if [ -e "$conf_dir/p2pd.toml" ]; then
  echo "keeping $conf_dir/p2pd.toml (the shipped example is $src/systemd/p2pd.toml)"
else
  install -m 0644 "$src/systemd/p2pd.toml" "$conf_dir/p2pd.toml"
fi
if [ "$reload" = yes ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

cat <<MSG
done. Next:
  edit $conf_dir/p2pd.toml (brokers = [...]), then: p2pd --config $conf_dir/p2pd.toml --check-config
  systemctl enable --now p2pd            # p2p-broker too, on the broker's machine
  usermod -aG p2pd YOUR_USER             # to use p2pctl without sudo (log in again)
MSG
