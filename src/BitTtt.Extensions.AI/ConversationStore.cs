using BitTtt.Inference;
using BitTtt.Inference.Diagnostics;

namespace BitTtt.Extensions.AI;

/// <summary>A conversation id the client does not hold (never started here, or evicted with no memory directory).</summary>
public sealed class ConversationNotFoundException(string conversationId, string message) : KeyNotFoundException(message)
{
    public string ConversationId { get; } = conversationId;
}

/// <summary>
/// The live conversations of a chat client: one <see cref="LlamaSession"/> (its TTT memory) per id, at most
/// <c>max</c> of them. Beyond that the least recently used one that no call is using is evicted: its memory is
/// saved to <c>{dir}/{id}.bttm</c> (and loaded back on its next turn) or, without a directory, dropped.
/// A call rents a conversation for its duration, so eviction never takes one that is running.
/// </summary>
internal sealed class ConversationStore(Llama model, int max, string? directory) : IDisposable
{
    readonly object _lock = new();
    readonly Dictionary<string, Entry> _live = new(StringComparer.Ordinal);
    readonly LinkedList<Entry> _lru = new();   // most recently used first

    internal sealed class Entry(string id, LlamaSession session)
    {
        public string Id { get; } = id;
        public LlamaSession Session { get; } = session;
        public LinkedListNode<Entry>? Node;
        public int Renters;
    }

    public int LiveCount { get { lock (_lock) return _live.Count; } }

    /// <summary>Starts a conversation with an empty memory under a new id, rented to the caller.</summary>
    public Entry Start()
    {
        var entry = new Entry(Guid.NewGuid().ToString("N"), model.CreateSession());
        lock (_lock)
        {
            Add(entry);
            entry.Renters++;
            EvictBeyondCap();
        }
        return entry;
    }

    /// <summary>The live conversation (or its memory file, loaded), rented to the caller; throws if it is unknown.</summary>
    public Entry Rent(string id)
    {
        CheckId(id);
        lock (_lock)
        {
            if (!_live.TryGetValue(id, out var entry))
            {
                string? file = FileOf(id);
                if (file is null || !File.Exists(file))
                    throw new ConversationNotFoundException(id, $"conversation '{id}' is unknown: it was never started by this client, or it was evicted " +
                        $"(more than {max} live conversations) with no MemoryDirectory to keep it; start a new conversation (no ConversationId)");
                var session = model.CreateSession();
                session.LoadMemory(file);
                File.Delete(file);
                entry = new Entry(id, session);
                Add(entry);
            }
            _lru.Remove(entry.Node!);
            _lru.AddFirst(entry.Node!);
            entry.Renters++;
            EvictBeyondCap();
            return entry;
        }
    }

    public void Return(Entry entry)
    {
        lock (_lock)
        {
            entry.Renters--;
            EvictBeyondCap();
        }
    }

    /// <summary>Empties a conversation's memory (the id stays valid); false if the id is unknown.</summary>
    public bool Reset(string id)
    {
        Entry entry;
        try { entry = Rent(id); }
        catch (ConversationNotFoundException) { return false; }
        try { entry.Session.ResetState(); }
        finally { Return(entry); }
        return true;
    }

    /// <summary>Writes a conversation's memory to <paramref name="path"/> (a memory file, see MemoryFile).</summary>
    public void SaveMemory(string id, string path)
    {
        var entry = Rent(id);
        try { entry.Session.SaveMemory(path); }
        finally { Return(entry); }
    }

    void Add(Entry entry)
    {
        entry.Node = _lru.AddFirst(entry);
        _live.Add(entry.Id, entry);
        BitLlamaTelemetry.LiveConversations.Add(1);
    }

    void EvictBeyondCap()
    {
        for (var node = _lru.Last; _live.Count > max && node is not null;)
        {
            var previous = node.Previous;
            var entry = node.Value;
            if (entry.Renters == 0)
            {
                _lru.Remove(node);
                _live.Remove(entry.Id);
                BitLlamaTelemetry.LiveConversations.Add(-1);
                BitLlamaTelemetry.ConversationsEvicted.Add(1);
                string? file = FileOf(entry.Id);
                if (file is not null)
                {
                    Directory.CreateDirectory(directory!);
                    entry.Session.SaveMemory(file);
                }
                entry.Session.Dispose();
            }
            node = previous;
        }
    }

    string? FileOf(string id) => directory is null ? null : Path.Combine(directory, id + ".bttm");

    static void CheckId(string id) => BitLlamaChatClient.ValidateConversationId(id);

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var entry in _live.Values) entry.Session.Dispose();
            BitLlamaTelemetry.LiveConversations.Add(-_live.Count);
            _live.Clear();
            _lru.Clear();
        }
    }
}
