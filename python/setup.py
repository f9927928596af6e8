# SPDX-License-Identifier: GPL-3.0-or-later
"""Builds rvm's Python extension over librvm.

The C library and the rvm command's conversion are built first with CMake (the repository's
own build, static archives) and linked into the extension; the shipped
model is copied into the package. Offline, with Debian's python3-dev, python3-numpy and
python3-setuptools:

    python3 -m venv --system-site-packages venv
    venv/bin/pip install --no-build-isolation ./python
"""
import os
import subprocess
from pathlib import Path

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL = "rvm_mobilenetv3_tfjs_int8"


def version():
    parts = {}
    for line in (ROOT / "include" / "rvm.h").read_text().splitlines():
        for part in ("MAJOR", "MINOR", "PATCH"):
            if line.startswith(f"#define RVM_VERSION_{part} "):
                parts[part] = line.split()[2]
    return "{MAJOR}.{MINOR}.{PATCH}".format(**parts)


class BuildWithLibrary(build_ext):
    """Builds librvm and the rvm command's conversion (rvm_convert, for convert_video) as
    static archives with CMake, then the extension. The conversion calls librvm's internal
    functions (rvmi_*, e.g. the pipeline's row-band output), so the archive linked is the
    build's own (librvm_internal.a), not the installed one whose internals are made local;
    --exclude-libs keeps every archive symbol inside the extension."""

    def run(self):
        # RVM_CMAKE_BUILD_DIR: an existing Release build folder of this tree to build the two
        # archives in (scripts/test-python.sh passes the test build's, whose library is already
        # compiled with the same flags) instead of configuring a new one here.
        given = os.environ.get("RVM_CMAKE_BUILD_DIR")
        cmake_dir = Path(given).resolve() if given else Path(self.build_temp).resolve() / "cmake"
        cmake_dir.mkdir(parents=True, exist_ok=True)
        jobs = os.environ.get("RVM_BUILD_JOBS", str(min(os.cpu_count() or 1, 4)))
        if not given:
            subprocess.run(["cmake", "-S", str(ROOT), "-B", str(cmake_dir),
                            "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF"], check=True)
        subprocess.run(["cmake", "--build", str(cmake_dir), "-j", jobs,
                        "--target", "rvm", "rvm_convert"], check=True)
        for ext in self.extensions:
            ext.extra_objects = [str(cmake_dir / "librvm_convert.a"),
                                 str(cmake_dir / "librvm_internal.a")]
        # Always rebuilt (one C file): setuptools compares times only, and an archive can
        # change for an older one (another build folder, a changed list of archives).
        self.force = True
        super().run()


class BuildWithModel(build_py):
    """Copies the shipped model into the package (rvm/models/...)."""

    def run(self):
        super().run()
        src = ROOT / "models" / MODEL
        dst = Path(self.build_lib) / "rvm" / "models" / MODEL
        dst.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.is_file():
                self.copy_file(str(f), str(dst / f.name))


def pkg_libs(*names):
    out = subprocess.run(["pkg-config", "--libs-only-l", *names], check=True,
                         capture_output=True, text=True).stdout.split()
    return [flag[2:] for flag in out]


setup(
    name="rvm",
    version=version(),
    description="Robust Video Matting in C, with the official Python API",
    license="GPL-3.0-or-later",
    packages=["rvm"],
    python_requires=">=3.9",
    install_requires=["numpy"],
    ext_modules=[
        Extension(
            "rvm._rvm",
            sources=["rvm/_rvm.c"],
            include_dirs=[str(ROOT / "include"), str(ROOT / "src"), numpy.get_include()],
            libraries=pkg_libs("libavformat", "libavcodec", "libavfilter", "libswscale",
                               "libswresample", "libavutil", "libzip", "libcjson")
            + ["pthread", "m", "dl"],
            extra_compile_args=["-std=gnu11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
            # the archives' own symbols stay inside the extension
            extra_link_args=["-Wl,--exclude-libs,ALL"],
        )
    ],
    cmdclass={"build_ext": BuildWithLibrary, "build_py": BuildWithModel},
    zip_safe=False,
)
