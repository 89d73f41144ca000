# IPython settings of the kernels that execute the chapters for `make book` (the Makefile sets
# IPYTHONDIR to this folder's parent). A cell tagged raises-exception shows the error's type and
# message only: the reader needs that line, not a traceback through library internals and the
# build machine's paths.
c = get_config()  # noqa: F821
c.InteractiveShell.xmode = "Minimal"
