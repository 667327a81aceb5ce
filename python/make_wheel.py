"""Writes the bitttt wheel with the standard library only (zipfile + hashlib).

Why hand-written: this machine has no PyPI, so neither `wheel`, `build`, setuptools' bdist_wheel nor
auditwheel can be installed; a wheel is a zip with three metadata files (PEP 427 / 491: WHEEL, METADATA,
RECORD with sha256 digests), which is what this writes. The tag is py3-none-<platform>: pure-Python code
(any Python 3, no CPython ABI) plus one native library loaded with ctypes, built for one platform.

On Linux the platform becomes manylinux_X_Y_<arch> (PEP 600) when the library qualifies, which this
checks as auditwheel would for such a library: it links only glibc's own libraries (libc, libm, ...), and
X.Y is the newest GLIBC_X.Y symbol version it needs, read from its ELF version-needs section. Otherwise the
plain linux_<arch> tag stays and the reason is printed.

The version is the one of every NuGet package: <Version> in the repository's Directory.Build.props.

usage: python3 make_wheel.py --lib PATH --platform linux_x86_64 --out dist [--header PATH]
       python3 make_wheel.py --print-version
"""
import argparse
import base64
import hashlib
import os
import re
import struct
import sys
import xml.etree.ElementTree as ElementTree
import zipfile

NAME = "bitttt"
HERE = os.path.dirname(os.path.abspath(__file__))
PROPS = os.path.join(os.path.dirname(HERE), "Directory.Build.props")
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


def project_version(props=PROPS):
    """<Version> of Directory.Build.props: the one version of every package."""
    versions = [e.text.strip() for e in ElementTree.parse(props).getroot().iter("Version") if e.text]
    if len(versions) != 1:
        raise SystemExit("make_wheel.py: %s: expected one <Version>, found %d" % (props, len(versions)))
    return versions[0]


# The libraries of glibc itself, which every manylinux system provides (PEP 600; auditwheel's policy lists the same).
GLIBC_LIBRARIES = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libutil.so.1",
                   "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
SHT_DYNAMIC, SHT_GNU_VERNEED, DT_NEEDED = 6, 0x6FFFFFFE, 1


def elf_needs(path):
    """(NEEDED libraries, symbol version names needed) of a 64-bit little-endian ELF shared library."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x7fELF\x02\x01":
        raise ValueError("%s: not a 64-bit little-endian ELF file" % path)
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]

    def string(table, offset):
        start = sections[table][4] + offset
        return data[start:data.index(b"\0", start)].decode("ascii")

    needed, versions = [], []
    for _, kind, _, _, offset, size, link, info, _, _ in sections:
        if kind == SHT_DYNAMIC:
            for pos in range(offset, offset + size, 16):
                tag, value = struct.unpack_from("<qQ", data, pos)
                if tag == DT_NEEDED:
                    needed.append(string(link, value))
        elif kind == SHT_GNU_VERNEED:
            pos = offset
            for _ in range(info):   # Elf64_Verneed: version, cnt, file, aux, next
                _, count, _, aux, following = struct.unpack_from("<HHIII", data, pos)
                entry = pos + aux
                for _ in range(count):   # Elf64_Vernaux: hash, flags, other, name, next
                    _, _, _, name, step = struct.unpack_from("<IHHII", data, entry)
                    versions.append(string(link, name))
                    entry += step
                pos += following
    return needed, versions


def linux_platform(platform, lib_path):
    """manylinux_X_Y_<arch> for linux_<arch> when the library needs only glibc, at most GLIBC_X.Y; else (platform, why not)."""
    if not platform.startswith("linux_"):
        return platform, None
    needed, versions = elf_needs(lib_path)
    others = sorted(set(needed) - GLIBC_LIBRARIES)
    if others:
        return platform, "it links %s, which manylinux does not provide" % ", ".join(others)
    foreign = sorted(v for v in versions if not re.fullmatch(r"GLIBC_\d+(\.\d+)+", v))
    if foreign:
        return platform, "it needs symbol versions %s" % ", ".join(foreign)
    if not versions:
        return platform, "it states no glibc symbol versions to derive the manylinux floor from"
    glibc = max(tuple(int(x) for x in v[len("GLIBC_"):].split(".")[:2]) for v in versions)
    return "manylinux_%d_%d_%s" % (glibc[0], glibc[1], platform[len("linux_"):]), None


def library_name(platform):
    for prefix, name in LIBRARY_NAMES.items():
        if platform.startswith(prefix) or platform.startswith("many" + prefix):
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


def write(out_dir, platform, lib_path, header_path, version):
    with open(lib_path, "rb") as f:
        files = sources() + [("bitttt/" + library_name(platform), f.read(), True)]
    if header_path:
        with open(header_path, "rb") as f:
            files.append(("bitttt/include/bitttt.h", f.read(), False))
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    info = "%s-%s.dist-info" % (NAME, version)
    files.append((info + "/METADATA", METADATA.format(name=NAME, version=version, readme=readme).encode("utf-8"), False))
    files.append((info + "/WHEEL", WHEEL.format(platform=platform).encode("utf-8"), False))
    files.append((info + "/top_level.txt", ("\n".join(PACKAGES) + "\n").encode("utf-8"), False))
    record = "".join("%s,%s,%d\n" % (name, digest(data), len(data)) for name, data, _ in files) + info + "/RECORD,,\n"
    files.append((info + "/RECORD", record.encode("utf-8"), False))

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s-%s-py3-none-%s.whl" % (NAME, version, platform))
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
    parser.add_argument("--print-version", action="store_true", help="print the version (Directory.Build.props) and exit")
    parser.add_argument("--lib", help="the NativeAOT shared library (BitTtt.Native.so/.dll/.dylib)")
    parser.add_argument("--platform", help="wheel platform tag, e.g. linux_x86_64 (made manylinux when the library qualifies)")
    parser.add_argument("--out", default=os.path.join(HERE, "dist"))
    parser.add_argument("--header", help="bitttt.h, shipped inside the package for C users")
    args = parser.parse_args(argv)
    if args.print_version:
        print(project_version())
        return
    if not args.lib or not args.platform:
        parser.error("--lib and --platform are required")
    if not os.path.isfile(args.lib):
        raise SystemExit("make_wheel.py: --lib %s: no such file (run dotnet publish first)" % args.lib)
    platform, why_not = linux_platform(args.platform, args.lib)
    if why_not:
        print("make_wheel.py: keeping the %s tag, not manylinux: %s" % (platform, why_not), file=sys.stderr)
    print(write(args.out, platform, args.lib, args.header, project_version()))


if __name__ == "__main__":
    main(sys.argv[1:])
