"""setuptools build of refchain: the extension is built by CMake (the same
build as `cmake -S . -B build`), for the interpreter running this file, and
copied where setuptools packs it.  Metadata lives in pyproject.toml."""

import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """Configure and build with CMake, then copy refchain/_refchain*.so."""

    def build_extension(self, ext):
        tree = os.path.join(os.path.abspath(self.build_temp), "cmake")
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.check_call(["cmake", "-S", ROOT, "-B", tree,
                               "-DPython3_EXECUTABLE=" + sys.executable,
                               "-DRC_BUILD_TESTS=OFF", "-DCMAKE_BUILD_TYPE=Release"])
        subprocess.check_call(["cmake", "--build", tree, "-j" + jobs])
        built = glob.glob(os.path.join(tree, "python", "refchain", "_refchain*.so"))
        if len(built) != 1:
            raise RuntimeError("CMake built %r, expected one refchain/_refchain*.so" % built)
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)


setup(ext_modules=[CMakeExtension("refchain._refchain")], cmdclass={"build_ext": CMakeBuild})
