"""Writes the bitttt wheel with the standard library only (zipfile + hashlib).

Why hand-written: this machine has no PyPI, so neither `wheel`, `build` nor setuptools' bdist_wheel can
be installed; a wheel is a zip with three metadata files (PEP 427 / 491: WHEEL, METADATA, RECORD with
sha256 digests), which is what this writes. The tag is py3-none-<platform>: pure-Python code (any
Python 3, no CPython ABI) plus one native library loaded with ctypes, built for one platform. The
platform is the plain one (linux_x86_64): manylinux would promise glibc compatibility this build does
not check (no auditwheel), and a plain tag is what pip installs locally.

usage: python3 make_wheel.py --lib PATH --platform linux_x86_64 --out dist [--header PATH]
"""
import argparse
import base64
import hashlib
import os
import sys
import zipfile

NAME, VERSION = "bitttt", "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ["bitttt", "cortex_rust"]
LIBRARY_NAMES = {"linux": "libbitttt.so", "macosx": "libbitttt.dylib", "win": "bitttt.dll"}
EPOCH = (1980, 1, 1, 0, 0, 0)   # fixed timestamps: the same inputs give the same wheel bytes

METADATA = """Metadata-Version: 2.1
Name: {name}
Version: {version}
Summary: BitLlama (BitNet b1.58 + test-time training) on the BitTtt.MLNet managed CPU engine, compiled with NativeAOT; no .NET needed
License: MIT
Requires-Python: >=3.8
Description-Content-Type: text/markdown

{readme}"""

WHEEL = """Wheel-Version: 1.0
Generator: bitttt make_wheel.py
Root-Is-Purelib: false
Tag: py3-none-{platform}
"""


def library_name(platform):
    for prefix, name in LIBRARY_NAMES.items():
        if platform.startswith(prefix):
            return name
    raise SystemExit("make_wheel.py: unknown platform tag %r (expected linux_*, macosx_* or win_*)" % platform)


def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def sources():
    """(archive name, bytes, executable) of every package file, sorted."""
    files = []
    for package in PACKAGES:
        root = os.path.join(HERE, package)
        for name in sorted(os.listdir(root)):
            if name.endswith(".py"):
                with open(os.path.join(root, name), "rb") as f:
                    files.append(("%s/%s" % (package, name), f.read(), False))
    return files


def write(out_dir, platform, lib_path, header_path):
    with open(lib_path, "rb") as f:
        files = sources() + [("bitttt/" + library_name(platform), f.read(), True)]
    if header_path:
        with open(header_path, "rb") as f:
            files.append(("bitttt/include/bitttt.h", f.read(), False))
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    info = "%s-%s.dist-info" % (NAME, VERSION)
    files.append((info + "/METADATA", METADATA.format(name=NAME, version=VERSION, readme=readme).encode("utf-8"), False))
    files.append((info + "/WHEEL", WHEEL.format(platform=platform).encode("utf-8"), False))
    files.append((info + "/top_level.txt", ("\n".join(PACKAGES) + "\n").encode("utf-8"), False))
    record = "".join("%s,%s,%d\n" % (name, digest(data), len(data)) for name, data, _ in files) + info + "/RECORD,,\n"
    files.append((info + "/RECORD", record.encode("utf-8"), False))

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s-%s-py3-none-%s.whl" % (NAME, VERSION, platform))
    temp = path + ".tmp"
    with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, data, executable in files:
            entry = zipfile.ZipInfo(name, EPOCH)
            entry.external_attr = (0o100755 if executable else 0o100644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            whl.writestr(entry, data)
    os.replace(temp, path)   # never a half-written wheel under the final name
    return path


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", required=True, help="the NativeAOT shared library (BitTtt.Native.so/.dll/.dylib)")
    parser.add_argument("--platform", required=True, help="wheel platform tag, e.g. linux_x86_64")
    parser.add_argument("--out", default=os.path.join(HERE, "dist"))
    parser.add_argument("--header", help="bitttt.h, shipped inside the package for C users")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.lib):
        raise SystemExit("make_wheel.py: --lib %s: no such file (run dotnet publish first)" % args.lib)
    print(write(args.out, args.platform, args.lib, args.header))


if __name__ == "__main__":
    main(sys.argv[1:])
