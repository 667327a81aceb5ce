namespace BitTtt.Native;

/// <summary>
/// The objects C holds, by 64-bit handle: low 32 bits = slot index + 1, high 32 bits = the slot's
/// generation, bumped on every free. A freed, never-issued or other-typed handle is therefore an error
/// naming the problem (double free, use after free, a session passed as a model), never a crash or a
/// different object: a reused slot carries a new generation. 0 is never a handle.
/// </summary>
public static class HandleTable
{
    sealed class Slot
    {
        public object? Target;
        public uint Generation = 1;
    }

    static readonly List<Slot> Slots = [];
    static readonly Stack<int> FreeSlots = new();
    static readonly Lock Gate = new();

    public static ulong Add(object target)
    {
        lock (Gate)
        {
            int index;
            if (FreeSlots.Count > 0) index = FreeSlots.Pop();
            else
            {
                if (Slots.Count == int.MaxValue - 1) throw new OutOfMemoryException("no handle slots left");
                index = Slots.Count;
                Slots.Add(new Slot());
            }
            var slot = Slots[index];
            slot.Target = target;
            return ((ulong)slot.Generation << 32) | (uint)(index + 1);
        }
    }

    /// <summary>The live object of type <typeparamref name="T"/> behind <paramref name="handle"/>.</summary>
    public static T Get<T>(ulong handle) where T : class
    {
        lock (Gate)
        {
            var target = Find(handle, Name<T>());
            return target as T ?? throw new NativeException(Status.InvalidHandle,
                $"handle 0x{handle:x} is a {NameOf(target)}, expected a {Name<T>()}");
        }
    }

    /// <summary>Removes the handle and returns its object; a second free of the same handle is an error.</summary>
    public static T Remove<T>(ulong handle) where T : class
    {
        lock (Gate)
        {
            var target = Find(handle, Name<T>());
            if (target is not T typed)
                throw new NativeException(Status.InvalidHandle, $"handle 0x{handle:x} is a {NameOf(target)}, expected a {Name<T>()}");
            int index = (int)(uint)handle - 1;
            var slot = Slots[index];
            slot.Target = null;
            slot.Generation = slot.Generation == uint.MaxValue ? 1 : slot.Generation + 1;
            FreeSlots.Push(index);
            return typed;
        }
    }

    static object Find(ulong handle, string expected)
    {
        if (handle == 0) throw new NativeException(Status.InvalidHandle, $"null {expected} handle (0)");
        long index = (long)(uint)handle - 1;
        uint generation = (uint)(handle >> 32);
        if (index < 0 || index >= Slots.Count || generation == 0)
            throw new NativeException(Status.InvalidHandle, $"0x{handle:x} is not a {expected} handle this library issued");
        var slot = Slots[(int)index];
        if (slot.Generation != generation || slot.Target is null)
            throw new NativeException(Status.InvalidHandle, $"{expected} handle 0x{handle:x} was already freed (use after free or double free)");
        return slot.Target;
    }

    static string Name<T>() => typeof(T) == typeof(NativeModel) ? "model" : typeof(T) == typeof(NativeSession) ? "session" : typeof(T).Name;

    static string NameOf(object target) => target switch
    {
        NativeModel => "model",
        NativeSession => "session",
        _ => target.GetType().Name,
    };
}
