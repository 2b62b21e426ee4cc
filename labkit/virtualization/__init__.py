"""A virtual machine beside a container (notebook 01): the seed's first comparison, measured live.

    side = lk.vm.side_by_side()      # boots a small VM with QEMU, starts a container, measures both
    side                             # a table: time to user code, memory on the host, uname -r, CPU, ...

initramfs.py makes the VM's whole root filesystem (busybox and an /init that reports and waits);
machine.py boots it with QEMU on this host's own kernel image, with KVM where it works and software
emulation (TCG) otherwise; compare.py runs both and holds the figures.
"""

from .compare import SideBySide, side_by_side
from .machine import Guest, accelerator, boot

__all__ = ["SideBySide", "side_by_side", "Guest", "accelerator", "boot"]
