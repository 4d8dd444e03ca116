#!/bin/sh
# PID 1 of a private PID+mount+net+UTS+IPC+cgroup namespace (see systemd.test.ts): make the
# host untouchable, then become systemd. Usage: box-init.sh PROJECT_DIR
# Nothing here writes to the host: /etc, /var/lib and /usr/local get overlays whose upper layers
# live in a tmpfs; /tmp, /run, /var/tmp, /var/log and /dev are fresh; the project is read-only;
# /sys and /proc/sys are read-only; units that would touch the kernel or the clock are masked.
set -eu
project=$1
mount --make-rprivate /
hostname p2pd-box

# Scratch tmpfs for the overlay upper layers; a fresh /run is mounted over it afterwards (the
# overlays keep their references to the hidden directories).
mount -t tmpfs -o mode=0755 box-scratch /run
for d in etc var/lib usr/local; do
  n=$(echo "$d" | tr / _)
  mkdir -p "/run/box/$n/upper" "/run/box/$n/work"
  mount -t overlay "box-$n" -o "lowerdir=/$d,upperdir=/run/box/$n/upper,workdir=/run/box/$n/work" "/$d"
done
mount -t tmpfs -o mode=0755 box-srv /srv
mkdir /srv/p2pd
mount --bind "$project" /srv/p2pd
mount -o remount,bind,ro /srv/p2pd
mount -t tmpfs -o mode=1777 box-tmp /tmp
mount -t tmpfs -o mode=1777 box-vartmp /var/tmp
mount -t tmpfs -o mode=0755 box-log /var/log
mount -t tmpfs -o mode=0755 box-run /run

# A private /dev with the usual nodes only.
mount -t tmpfs -o mode=0755,nosuid box-dev /dev
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name major minor <<NODE
$n
NODE
  mknod -m 0666 "/dev/$name" c "$major" "$minor"
done
mkdir /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 box-devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev box-shm /dev/shm
ln -s /proc/self/fd /dev/fd

# Our own cgroup tree: the cgroup namespace is rooted at the cgroup the test made for us.
mount -t cgroup2 box-cgroup2 /sys/fs/cgroup
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys

# Only the units under test run: drop the image's enablement symlinks (in the overlay) and mask
# what would reach past the namespaces (kernel modules, sysctl, binfmt, clock, devices).
rm -rf /etc/systemd/system/*.wants /etc/systemd/system/sshd.service /etc/systemd/system/dbus-org.*
for u in systemd-sysctl.service systemd-modules-load.service systemd-binfmt.service kmod-static-nodes.service \
  proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount sys-kernel-config.mount sys-kernel-debug.mount \
  sys-kernel-tracing.mount sys-fs-fuse-connections.mount dev-hugepages.mount dev-mqueue.mount \
  systemd-firstboot.service systemd-repart.service systemd-pcrphase.service systemd-pcrphase-sysinit.service \
  systemd-timesyncd.service systemd-pstore.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-udev-settle.service systemd-tmpfiles-setup-dev.service systemd-hwdb-update.service \
  systemd-journald-audit.socket systemd-machine-id-commit.service systemd-tmpfiles-clean.timer systemd-remount-fs.service \
  getty.target console-getty.service systemd-logind.service dbus.service dbus.socket; do
  ln -sf /dev/null "/etc/systemd/system/$u"
done
cat > /etc/systemd/system/p2pd-box.target <<UNIT
[Unit]
Description=p2pd test box
Requires=basic.target
After=basic.target
UNIT
: > /etc/machine-id
ip link set lo up

export container=p2pd-box
exec /lib/systemd/systemd --system --unit=p2pd-box.target --log-target=console --log-level=notice
