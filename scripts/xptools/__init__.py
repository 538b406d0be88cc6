"""xptools - the host-side Python of xpoke, one module per job.

  paths     where things are (the tree, build/, the images)
  qemu      the one QEMU launcher (knobs, images for a command line, logs)
  ktap      the KTAP judge of a serial log
  qmp       a QMP client that counts machine-check injections
  console   the kernel console driven over a unix socket (COM1)
  stanzas   tests/boots.cfg: every boot as data, parsed and checked
  judges    how a stanza's boot is judged (one function per judge kind)

The entry points are the scripts beside this folder (scripts/boots.py,
run-qemu.py, ktap-check.py); Python puts their folder on sys.path, so
`import xptools` needs nothing more. Test modules under tests/ are run by
scripts/boots.py, which has already imported this package.
"""
