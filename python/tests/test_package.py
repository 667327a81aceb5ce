"""The installed package: its version is every NuGet package's (Directory.Build.props), and its wheel's
platform tag states the glibc its library needs."""
import os
import re
import shutil
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ElementTree

import bitttt
import cortex_rust
import fixture

try:
    from importlib import metadata
except ImportError:   # Python < 3.8
    metadata = None


def packages_version():
    props = os.path.join(fixture.REPO, "Directory.Build.props")
    return next(e.text.strip() for e in ElementTree.parse(props).getroot().iter("Version"))


def installed_distribution():
    """The bitttt distribution pip installed, or None when the package is imported from a checkout."""
    if metadata is None:
        return None
    try:
        dist = metadata.distribution("bitttt")
    except metadata.PackageNotFoundError:
        return None
    located = os.path.realpath(str(dist.locate_file("bitttt")))
    return dist if located == os.path.realpath(os.path.dirname(bitttt.__file__)) else None


class PackageTests(unittest.TestCase):
    def test_version_is_the_version_of_every_nuget_package(self):
        self.assertEqual(packages_version(), bitttt.__version__)
        self.assertEqual(bitttt.__version__, cortex_rust.__version__)

    def test_the_installed_wheel_carries_the_same_version(self):
        dist = installed_distribution()
        if dist is None:
            self.skipTest("bitttt is imported from a checkout, not installed from the wheel")
        self.assertEqual(packages_version(), dist.version)

    def test_the_linux_wheel_tag_is_manylinux_at_the_glibc_the_library_needs(self):
        dist = installed_distribution()
        if dist is None or not sys.platform.startswith("linux"):
            self.skipTest("needs the wheel installed on Linux")
        if shutil.which("objdump") is None:
            self.skipTest("needs objdump (binutils) to read the library's symbol versions")
        tags = [line.split(":", 1)[1].strip() for line in dist.read_text("WHEEL").splitlines() if line.startswith("Tag:")]
        self.assertEqual(1, len(tags), tags)
        match = re.fullmatch(r"py3-none-manylinux_(\d+)_(\d+)_(\w+)", tags[0])
        self.assertIsNotNone(match, "the wheel is tagged %s; the library links only glibc, so manylinux applies" % tags[0])
        library = os.path.join(os.path.dirname(bitttt.__file__), "libbitttt.so")
        symbols = subprocess.run(["objdump", "-T", library], capture_output=True, text=True, check=True).stdout
        needed = max((int(x), int(y)) for x, y in re.findall(r"\bGLIBC_(\d+)\.(\d+)", symbols))
        self.assertEqual(needed, (int(match.group(1)), int(match.group(2))),
                         "the tag must name the newest glibc symbol version the library needs")
        headers = subprocess.run(["objdump", "-p", library], capture_output=True, text=True, check=True).stdout
        linked = set(re.findall(r"NEEDED\s+(\S+)", headers))
        glibc = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
        self.assertTrue(linked and linked <= glibc, "a manylinux library may link glibc's own libraries only: %s" % sorted(linked))


if __name__ == "__main__":
    unittest.main()
