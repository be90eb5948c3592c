"""Data files for the wheel: the man page and the shell completion scripts.

Everything else about the package is in pyproject.toml. These files go where
man and the shells look under an installation prefix (a venv, pipx's venv,
/usr/local), with the names each loader expects. setuptools' data files keep
a file's own name, and the bash script is completions/maascurl.bash in the
tree but must be installed as `maascurl`, hence the small command below.
"""

from __future__ import annotations

import os

from setuptools import Distribution, setup

# Whichever install_data this setuptools uses (newer ones keep it in their
# bundled distutils only).
install_data = Distribution().get_command_class("install_data")

# Installed path under the prefix -> file in the source tree.
DATA_FILES = {
    "share/man/man1/maascurl.1": "man/maascurl.1",
    "share/bash-completion/completions/maascurl": "completions/maascurl.bash",
    "share/zsh/site-functions/_maascurl": "completions/_maascurl",
    "share/fish/vendor_completions.d/maascurl.fish": "completions/maascurl.fish",
}


class InstallRenamedData(install_data):
    """install_data that installs each file of DATA_FILES under its target name."""

    def run(self) -> None:
        for target, source in DATA_FILES.items():
            dest = os.path.join(self.install_dir, *target.split("/"))
            self.mkpath(os.path.dirname(dest))
            out, _ = self.copy_file(source, dest)
            self.outfiles.append(out)


setup(
    # Listed for setuptools' bookkeeping; InstallRenamedData does the copying.
    data_files=[(os.path.dirname(target), [source]) for target, source in DATA_FILES.items()],
    cmdclass={"install_data": InstallRenamedData},
)
