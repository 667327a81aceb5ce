using System.Text;
using System.Text.Json;

// Support-desk conversations in the OpenAI fine-tuning format, generated from a seed. Two kinds:
//
//   account questions  the system message is the customer's account card (five facts in a random order), the user
//                      asks about one of them, the assistant answers with that fact in a fixed sentence:
//                        system     "Account card. Agent: Priya. Plan: Gold. Region: Lisbon. Renewal: March 14. Ticket: 482."
//                        user       "Which plan am I on?"
//                        assistant  "You are on the Gold plan."
//                      Every conversation draws new facts, so the answer is in the conversation and nowhere else: a
//                      model answers it only by recalling it from what it read (its TTT memory), never from its weights.
//   desk questions     a question with one fixed answer ("My invoice PDF is blank."), learnt from the weights.
//
// The answer-from-context benchmark (`ModelQuality answer`) uses account questions only; data/support-chat.jsonl mixes
// both (see data/README.md for the command that wrote it).

/// <summary>Writes reproducible support-desk conversations; the same seed and settings give the same lines.</summary>
sealed class SupportChats
{
    static readonly string[] Agents = ["Priya", "Tomas", "Amara", "Kenji", "Lucia", "Omar", "Ingrid", "Mateo", "Sana", "Felix", "Nadia", "Ravi", "Elena", "Jonas", "Leila", "Hugo"];
    static readonly string[] Plans = ["Bronze", "Silver", "Gold", "Platinum"];
    static readonly string[] Regions = ["Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Dublin", "Austin", "Cairo", "Quito", "Perth", "Seoul", "Warsaw", "Denver", "Manila", "Porto", "Accra"];
    static readonly string[] Months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    /// <summary>(question, the answer for a fact value) of each account fact, in card order.</summary>
    static readonly (string Key, string[] Questions, Func<string, string> Answer)[] Facts =
    [
        ("Agent", ["Who is my support agent?", "Which agent handles my account?"], v => $"Your agent is {v}."),
        ("Plan", ["Which plan am I on?", "What plan do I have?"], v => $"You are on the {v} plan."),
        ("Region", ["Which region is my account in?", "Where is my account hosted?"], v => $"Your account is in {v}."),
        ("Renewal", ["When does my plan renew?", "What is my renewal date?"], v => $"Your plan renews on {v}."),
        ("Ticket", ["What is my open ticket number?", "Which ticket is open for me?"], v => $"Your open ticket is {v}."),
    ];

    static readonly (string Question, string Answer)[] Desk =
    [
        ("My invoice PDF is blank.", "Open the invoice in another PDF viewer; if it is still blank, we will send it again."),
        ("I cannot log in.", "Reset your password from the sign-in page; the link is valid for one hour."),
        ("How do I export my data?", "Go to Settings, then Export, and choose CSV or JSON."),
        ("Can I change my billing email?", "Yes: Settings, then Billing, then Email. The next invoice goes to the new address."),
        ("The app is slow today.", "We are looking into it; the status page has the latest news."),
        ("How do I add a teammate?", "Open Team, choose Invite, and enter their email address."),
        ("Where do I find my invoices?", "Under Billing, then Invoices; each one can be downloaded as a PDF."),
        ("I was charged twice.", "Sorry about that; the second charge is refunded within five working days."),
    ];

    /// <summary>One conversation; <paramref name="deskShare"/> of them (on average) are desk questions.</summary>
    public static (string Role, string Content)[] Conversation(Random rng, double deskShare)
    {
        if (rng.NextDouble() < deskShare)
        {
            var (q, a) = Desk[rng.Next(Desk.Length)];
            return [("system", "You are the support desk of Contoso Cloud."), ("user", q), ("assistant", a)];
        }
        string[] values =
        [
            Agents[rng.Next(Agents.Length)], Plans[rng.Next(Plans.Length)], Regions[rng.Next(Regions.Length)],
            $"{Months[rng.Next(Months.Length)]} {rng.Next(1, 29)}", rng.Next(100, 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ];
        int[] order = [0, 1, 2, 3, 4];
        rng.Shuffle(order);
        var card = new StringBuilder("Account card.");
        foreach (int i in order) card.Append(' ').Append(Facts[i].Key).Append(": ").Append(values[i]).Append('.');
        int asked = rng.Next(Facts.Length);
        var (_, questions, answer) = Facts[asked];
        return [("system", card.ToString()), ("user", questions[rng.Next(questions.Length)]), ("assistant", answer(values[asked]))];
    }

    static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary><paramref name="count"/> conversations from <paramref name="seed"/>, as JSONL lines.</summary>
    public static IEnumerable<string> Lines(int count, int seed, double deskShare)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var messages = Conversation(rng, deskShare).Select(m => new Dictionary<string, string> { ["role"] = m.Role, ["content"] = m.Content });
            yield return JsonSerializer.Serialize(new { messages }, Json);
        }
    }

    /// <summary>Writes the lines to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, int count, int seed, double deskShare) =>
        BitTtt.AtomicFile.WriteAllText(path, string.Concat(Lines(count, seed, deskShare).Select(l => l + "\n")));
}
