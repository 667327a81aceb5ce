namespace BitTtt.Tokenization;

/// <summary>
/// The id layout of a vocabulary trained by <see cref="BpeTrainer"/>: <c>&lt;unk&gt;</c>=0, <c>&lt;s&gt;</c>=1,
/// <c>&lt;/s&gt;</c>=2, then the 256 byte symbols in byte order (id = 3 + byte), then one id per new merged token.
/// </summary>
internal static class BpeVocabulary
{
    public const string Unk = "<unk>", Bos = "<s>", Eos = "</s>";
    public const int UnkId = 0, BosId = 1, EosId = 2, FirstByteId = 3, FirstMergeId = FirstByteId + 256;

    public static readonly string[] Specials = [Unk, Bos, Eos];
}
