using BitTtt.Inference.Diagnostics;

namespace BitTtt.Inference;

/// <summary>
/// TTT states of one model kept after prompts and responses, keyed by every token read to reach them, so that a
/// prompt which begins with those tokens (a client resending a conversation's whole history, a shared system prompt)
/// starts from the state and feeds only the rest. A TTT layer's memory has a fixed size whatever it has read, so an
/// entry costs the same for a long history as for a short one (<see cref="LlamaSessionState.SizeInBytes"/>).
/// <para>Turned on with <see cref="Llama.EnablePrefixCache"/>; used by generations on a fresh session of that model
/// (position 0: the <see cref="Llama"/> completion methods, one-shot chats), which look up the longest cached key the
/// prompt's tokens start with, and store the state after the prompt but its last token (that token may merge with the
/// text that follows it in the next, longer prompt: <c>"Assistant:"</c> then <c>"."</c> is one token <c>":."</c>) and
/// after the response. Restoring a state and
/// feeding the rest gives the same logits, so the same output, as feeding the whole prompt: the engine's batching
/// never changes a result (docs/inference.md).</para>
/// <para>Bounded by <see cref="MaxEntries"/> and <see cref="MaxBytes"/>; beyond either the least recently used entry
/// goes. Thread-safe.</para>
/// </summary>
public sealed class PrefixStateCache
{
    /// <summary>Default bound on entries.</summary>
    public const int DefaultMaxEntries = 64;
    /// <summary>Default bound on bytes (256 MiB).</summary>
    public const long DefaultMaxBytes = 256L << 20;

    sealed class Entry(int[] key, LlamaSessionState state)
    {
        public int[] Key { get; } = key;
        public LlamaSessionState State { get; } = state;
        public long Bytes { get; } = state.SizeInBytes + (long)key.Length * sizeof(int);
        public LinkedListNode<Entry>? Node;
    }

    readonly object _lock = new();
    readonly LinkedList<Entry> _lru = new();   // most recently used first
    long _bytes, _hits, _misses, _reused;

    internal PrefixStateCache(Llama model, int maxEntries, long maxBytes)
    {
        if (maxEntries <= 0) throw new OptionException(nameof(MaxEntries), $"must be positive, got {maxEntries}");
        if (maxBytes <= 0) throw new OptionException(nameof(MaxBytes), $"must be positive, got {maxBytes}");
        Model = model;
        MaxEntries = maxEntries;
        MaxBytes = maxBytes;
    }

    /// <summary>The model whose states this cache holds.</summary>
    public Llama Model { get; }
    public int MaxEntries { get; }
    public long MaxBytes { get; }

    /// <summary>Entries held now.</summary>
    public int Count { get { lock (_lock) return _lru.Count; } }
    /// <summary>Bytes held now (states and keys).</summary>
    public long Bytes { get { lock (_lock) return _bytes; } }
    /// <summary>Prompts that started from a cached state.</summary>
    public long Hits => Interlocked.Read(ref _hits);
    /// <summary>Prompts that found no cached prefix.</summary>
    public long Misses => Interlocked.Read(ref _misses);
    /// <summary>Prompt tokens restored instead of fed, over all hits.</summary>
    public long ReusedTokens => Interlocked.Read(ref _reused);

    /// <summary>Drops every entry (the counters stay).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _lru.Clear();
            _bytes = 0;
        }
    }

    /// <summary>
    /// Restores into <paramref name="session"/> (held by the caller, at position 0) the state of the longest cached key
    /// that <paramref name="tokens"/> begins with; returns that key's length, 0 when there is none.
    /// </summary>
    internal int Restore(LlamaSession session, ReadOnlySpan<int> tokens)
    {
        Entry? best = null;
        lock (_lock)
        {
            for (var node = _lru.First; node is not null; node = node.Next)
            {
                var key = node.Value.Key;
                if (key.Length <= tokens.Length && key.Length > (best?.Key.Length ?? 0) && tokens[..key.Length].SequenceEqual(key))
                    best = node.Value;
            }
            if (best is not null)
            {
                _lru.Remove(best.Node!);
                _lru.AddFirst(best.Node!);
            }
        }
        if (best is null)
        {
            Interlocked.Increment(ref _misses);
            BitLlamaTelemetry.PrefixCacheMisses.Add(1);
            return 0;
        }
        session.RestoreStateHeld(best.State);   // entries are immutable: copied outside the lock
        Interlocked.Increment(ref _hits);
        Interlocked.Add(ref _reused, best.Key.Length);
        BitLlamaTelemetry.PrefixCacheHits.Add(1);
        BitLlamaTelemetry.PrefixCacheReusedTokens.Add(best.Key.Length);
        return best.Key.Length;
    }

    /// <summary>
    /// Keeps the state of <paramref name="session"/> (held by the caller), which has read exactly <paramref name="key"/>
    /// since an empty memory. A key already held is only marked as recently used.
    /// </summary>
    internal void Store(ReadOnlySpan<int> key, LlamaSession session)
    {
        if (key.IsEmpty || session.Position != key.Length) return;   // the key must be everything the memory has read
        lock (_lock)
            if (Touch(key)) return;
        var entry = new Entry(key.ToArray(), session.CaptureStateHeld());   // copied outside the lock
        if (entry.Bytes > MaxBytes) return;
        lock (_lock)
        {
            if (Touch(key)) return;   // another generation stored the same tokens meanwhile
            entry.Node = _lru.AddFirst(entry);
            _bytes += entry.Bytes;
            while (_lru.Count > MaxEntries || _bytes > MaxBytes)
            {
                var last = _lru.Last!;
                _lru.RemoveLast();
                _bytes -= last.Value.Bytes;
                BitLlamaTelemetry.PrefixCacheEvictions.Add(1);
            }
        }
    }

    /// <summary>Marks the entry whose key is <paramref name="key"/> as most recently used; false if there is none. Under the lock.</summary>
    bool Touch(ReadOnlySpan<int> key)
    {
        for (var node = _lru.First; node is not null; node = node.Next)
            if (node.Value.Key.AsSpan().SequenceEqual(key))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                return true;
            }
        return false;
    }
}
