// MSBuild task (compiled by RoslynCodeTaskFactory at build time) that lets TorchSharp's native shim
// load on distributions whose libstdc++ predates GCC 13 (Debian 12: GLIBCXX_3.4.30 at most).
//
// Why this is safe: libLibTorchSharp.so requires GLIBCXX_3.4.32 for exactly one symbol,
// _ZSt21ios_base_library_initv, which GCC 13's <iostream> emits as a reference marker only: the library
// has no relocation against it, so nothing ever binds or calls it. We rewrite that one version
// requirement (the Vernaux entry in .gnu.version_r) to GLIBCXX_3.4.30, a string already in .dynstr.
// The file is patched in place in the build output only, never in the NuGet cache, and only when the
// machine's libstdc++ lacks GLIBCXX_3.4.32.
//
// Binary format (ELF64 little-endian, the parts touched):
//   header   e_shoff u64 @0x28, e_shentsize u16 @0x3A, e_shnum u16 @0x3C
//   section  sh_type u32 @4, sh_offset u64 @0x18, sh_size u64 @0x20, sh_link u32 @0x28, sh_info u32 @0x2C
//   Verneed  vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32
//   Vernaux  vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
#nullable enable
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class PatchGlibcxxVersion : Task
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const string Missing = "GLIBCXX_3.4.32";
    const string Present = "GLIBCXX_3.4.30";

    [Required]
    public string Library { get; set; } = "";

    /// <summary>Patch whatever this machine's libstdc++ has: set when the output runs on other machines
    /// (a tool package), where the lower requirement is met by every libstdc++ that met the original.</summary>
    public bool Always { get; set; }

    public override bool Execute()
    {
        if (!File.Exists(Library)) return true;
        string? libstdcxx = Always ? "(any machine's libstdc++)" : FindLibStdCxx();
        if (libstdcxx == null || (!Always && Contains(File.ReadAllBytes(libstdcxx), Encoding.ASCII.GetBytes(Missing))))
            return true; // nothing to fix on this machine
        byte[] elf = File.ReadAllBytes(Library);
        int patched = Patch(elf);
        if (patched > 0)
        {
            // The output copy may be a hard link to the NuGet cache's file (CreateHardLinksForCopyLocalIfPossible):
            // writing a new file instead of into the old one leaves the cache's copy untouched.
            string temporary = Library + ".patching";
            File.WriteAllBytes(temporary, elf);
            File.Delete(Library);
            File.Move(temporary, Library);
            Log.LogMessage(MessageImportance.High,
                Always ? $"Patched {Library}: {Missing} -> {Present} (for any machine: the output ships)."
                       : $"Patched {Path.GetFileName(Library)}: {Missing} -> {Present} ({libstdcxx} lacks {Missing}).");
        }
        return true;
    }

    static string? FindLibStdCxx()
    {
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib" })
        {
            var path = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(path)) return path;
        }
        return null;
    }

    static int Patch(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[4] != 2 || elf[5] != 1) return 0;
        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long verneed = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strSh = shoff + (long)BitConverter.ToUInt32(elf, (int)sh + 0x28) * shentsize;
            long dynstr = (long)BitConverter.ToUInt64(elf, (int)strSh + 0x18);
            long dynstrSize = (long)BitConverter.ToUInt64(elf, (int)strSh + 0x20);
            long presentOffset = FindString(elf, dynstr, dynstrSize, Present);
            if (presentOffset < 0) return 0;
            return RewriteAux(elf, verneed, count, dynstr, (uint)presentOffset);
        }
        return 0;
    }

    static int RewriteAux(byte[] elf, long verneed, int count, long dynstr, uint presentOffset)
    {
        int patched = 0;
        long vn = verneed;
        for (int i = 0; i < count; i++)
        {
            int cnt = BitConverter.ToUInt16(elf, (int)vn + 2);
            long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
            for (int j = 0; j < cnt; j++)
            {
                uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                if (ReadString(elf, dynstr + name) == Missing)
                {
                    BitConverter.GetBytes(ElfHash(Present)).CopyTo(elf, (int)aux);
                    BitConverter.GetBytes(presentOffset).CopyTo(elf, (int)aux + 8);
                    patched++;
                }
                aux += BitConverter.ToUInt32(elf, (int)aux + 12);
            }
            vn += BitConverter.ToUInt32(elf, (int)vn + 12);
        }
        return patched;
    }

    static string ReadString(byte[] elf, long at)
    {
        long end = at;
        while (end < elf.Length && elf[end] != 0) end++;
        return Encoding.ASCII.GetString(elf, (int)at, (int)(end - at));
    }

    static long FindString(byte[] elf, long start, long size, string value)
    {
        for (long p = start; p < start + size; p++)
            if ((p == start || elf[p - 1] == 0) && ReadString(elf, p) == value) return p - start;
        return -1;
    }

    static uint ElfHash(string name)
    {
        uint h = 0;
        foreach (char c in name)
        {
            h = (h << 4) + c;
            uint g = h & 0xf0000000;
            if (g != 0) h ^= g >> 24;
            h &= ~g;
        }
        return h;
    }

    static bool Contains(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }
}
