//! The deterministic synthetic corpus of `bench search`: support conversations of a file-sync
//! product ("Northwind") — customers and agents writing about sync, billing, refunds, invoices,
//! passwords, sharing links, restores and errors — with error codes (`NW-1004`), invoice numbers
//! (`INV-2024-0042`), names with diacritics (Müller, Ñúñez), emails, a few Spanish, German and
//! French conversations, statuses, tags, inboxes, and dates over two years.
//!
//! Everything derives from the seed: conversation `i` is generated from its own PRNG stream, so
//! any conversation can be regenerated alone, and the same arguments always give the same text.
use chrono::{DateTime, Duration, TimeZone, Utc};
use switchboard::conversations::state::Status;
use uuid::Uuid;

/// xorshift64* seeded through splitmix64: small, fast, and good enough for a text generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(splitmix64(seed) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` ≥ 1, below 2³²).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The one account every generated conversation belongs to.
pub const ACCOUNT_ID: Uuid = Uuid::from_u64_pair(0x5b5b_0000_0000_4000, 0x8000_0000_0000_0001);
const CONV_NS: u64 = 0x5b5b_c0c0_0000_4000;
const MSG_NS: u64 = 0x5b5b_3e55_0000_4000;
const INBOX_NS: u64 = 0x5b5b_1b0c_0000_4000;
const AGENT_NS: u64 = 0x5b5b_a6e7_0000_4000;

pub const INBOXES: [&str; 4] = ["Website chat", "Billing", "Business accounts", "Mobile app"];

/// (name, email) of the support agents.
pub const AGENTS: [(&str, &str); 12] = [
    ("Marta Lindqvist", "marta@northwind.example"),
    ("Tomás Ruiz", "tomas@northwind.example"),
    ("Priya Raman", "priya@northwind.example"),
    ("Jonas Becker", "jonas@northwind.example"),
    ("Aoife Byrne", "aoife@northwind.example"),
    ("Kenji Watanabe", "kenji@northwind.example"),
    ("Léa Moreau", "lea@northwind.example"),
    ("Sam Okafor", "sam@northwind.example"),
    ("Ingrid Halvorsen", "ingrid@northwind.example"),
    ("Diego Álvarez", "diego@northwind.example"),
    ("Hannah Weiss", "hannah@northwind.example"),
    ("Ravi Menon", "ravi@northwind.example"),
];

const FIRST: [&str; 32] = [
    "Anna",
    "José",
    "François",
    "Zoë",
    "Björn",
    "Søren",
    "Łukasz",
    "Renée",
    "Mia",
    "Noah",
    "Chloé",
    "Jürgen",
    "Inés",
    "Ömer",
    "Liam",
    "Emma",
    "Mateo",
    "Élodie",
    "Håkon",
    "Agnieszka",
    "Tomáš",
    "Kenji",
    "Priya",
    "Olivia",
    "Lucas",
    "Sofía",
    "Marek",
    "Aoife",
    "Nuño",
    "Grace",
    "Ahmed",
    "Yuki",
];
const LAST: [&str; 32] = [
    "Müller",
    "Ñúñez",
    "Berg",
    "García",
    "Dvořák",
    "Østergaard",
    "Lefèvre",
    "Schröder",
    "Kowalski",
    "Çelik",
    "Smith",
    "Johnson",
    "O'Brien",
    "Nakamura",
    "Patel",
    "Rossi",
    "Fernández",
    "Novák",
    "Jensen",
    "Dubois",
    "Groß",
    "Weiß",
    "Björklund",
    "Sánchez",
    "Martin",
    "Brown",
    "Nguyễn",
    "Kovač",
    "Hernández",
    "Williams",
    "Lindgren",
    "Moreau",
];
const DOMAINS: [&str; 6] = [
    "example.com",
    "mail.example.org",
    "acme.example",
    "studio-nord.example",
    "uni-example.edu",
    "outlook.example",
];

/// Conversations per contact on average is 1 / this fraction.
const CONTACTS_PER_CONVERSATION: f64 = 0.6;

/// Sizes and seed of a corpus.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub messages: usize,
    pub conversations: usize,
    pub seed: u64,
}

/// Message counts per conversation (fixed up front so the total is exact); conversations are
/// generated on demand by [`Corpus::conversation`].
pub struct Corpus {
    pub spec: Spec,
    counts: Vec<u32>,
    /// Global id of each conversation's first message minus one.
    offsets: Vec<u64>,
    contacts: usize,
    start: DateTime<Utc>,
    /// Time between two conversations' creation (two years / conversations).
    step_s: f64,
}

#[derive(Clone, Debug)]
pub struct Conv {
    /// 0-based position; `index + 1` is its integer id in SQL.
    pub index: usize,
    pub id: Uuid,
    pub external_id: String,
    pub inbox: usize,
    pub subject: Option<String>,
    pub status: &'static str,
    pub tags: Vec<&'static str>,
    pub contact_name: String,
    pub contact_email: String,
    pub assignee: Option<usize>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub messages: Vec<Msg>,
}

#[derive(Clone, Debug)]
pub struct Msg {
    /// 1-based, unique in the corpus (the SQL rowid).
    pub id: u64,
    pub seq: i64,
    pub private: bool,
    /// `customer` or `agent`.
    pub sender_type: &'static str,
    pub created_at: DateTime<Utc>,
    pub body: String,
}

impl Conv {
    pub fn sql_id(&self) -> i64 {
        self.index as i64 + 1
    }
}

impl Msg {
    pub fn uuid(&self) -> Uuid {
        Uuid::from_u64_pair(MSG_NS, self.id)
    }
}

pub fn inbox_uuid(inbox: usize) -> Uuid {
    Uuid::from_u64_pair(INBOX_NS, inbox as u64)
}

pub fn agent_uuid(agent: usize) -> Uuid {
    Uuid::from_u64_pair(AGENT_NS, agent as u64)
}

impl Corpus {
    pub fn new(spec: Spec) -> anyhow::Result<Self> {
        anyhow::ensure!(
            spec.conversations >= 1,
            "--conversations must be at least 1"
        );
        anyhow::ensure!(
            spec.messages >= spec.conversations,
            "--messages must be at least --conversations (every conversation has a message)"
        );
        anyhow::ensure!(
            spec.messages / spec.conversations <= 10_000 && spec.messages <= 100_000_000,
            "too many messages"
        );
        // Uniform in 1..=2m−1 (mean m), then nudged one by one until the total is exact.
        let mean = spec.messages as f64 / spec.conversations as f64;
        let span = ((2.0 * mean).round() as usize).saturating_sub(1).max(1);
        let mut rng = Rng::new(spec.seed ^ 0xc0_u64);
        let mut counts: Vec<u32> = (0..spec.conversations)
            .map(|_| 1 + rng.below(span) as u32)
            .collect();
        let mut total: i64 = counts.iter().map(|&c| i64::from(c)).sum();
        let target = spec.messages as i64;
        let mut k = 0usize;
        while total != target {
            let i = (k.wrapping_mul(7919)) % counts.len();
            k += 1;
            if total < target {
                counts[i] += 1;
                total += 1;
            } else if counts[i] > 1 {
                counts[i] -= 1;
                total -= 1;
            }
        }
        let mut offsets = Vec::with_capacity(counts.len());
        let mut acc = 0u64;
        for &c in &counts {
            offsets.push(acc);
            acc += u64::from(c);
        }
        let start = Utc
            .with_ymd_and_hms(2024, 1, 1, 6, 0, 0)
            .single()
            .expect("valid date");
        Ok(Self {
            spec,
            counts,
            offsets,
            contacts: ((spec.conversations as f64 * CONTACTS_PER_CONVERSATION) as usize).max(1),
            start,
            step_s: 2.0 * 365.0 * 86_400.0 / spec.conversations as f64,
        })
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// (name, email) of contact `c`: the same for all of its conversations.
    pub fn contact(&self, c: usize) -> (String, String) {
        let mut r = Rng::new(self.spec.seed ^ 0xc0_47ac_7000_0000 ^ (c as u64).wrapping_mul(31));
        let first = r.pick(&FIRST);
        let last = r.pick(&LAST);
        let domain = r.pick(&DOMAINS);
        let email = format!("{}.{}{}@{domain}", ascii_fold(first), ascii_fold(last), c);
        (format!("{first} {last}"), email)
    }

    /// Conversation `i` (0-based), generated from its own PRNG stream.
    pub fn conversation(&self, i: usize) -> Conv {
        let mut r = Rng::new(self.spec.seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9));
        let topic = pick_topic(&mut r);
        let lang = match r.below(100) {
            0 => Lang::Es,
            1 => Lang::De,
            2 => Lang::Fr,
            _ => Lang::En,
        };
        let contact = r.below(self.contacts);
        let (contact_name, contact_email) = self.contact(contact);
        let first = contact_name
            .split(' ')
            .next()
            .unwrap_or("there")
            .to_string();
        let last = contact_name.split(' ').nth(1).unwrap_or("").to_string();
        let assignee = if r.chance(85) {
            Some(r.below(AGENTS.len()))
        } else {
            None
        };
        let agent_first = AGENTS[assignee.unwrap_or(0)]
            .0
            .split(' ')
            .next()
            .unwrap_or("Marta");
        let jitter = r.below(3600) as f64;
        let created_at = self.start
            + Duration::milliseconds(((i as f64 * self.step_s + jitter) * 1000.0) as i64);
        let year = created_at.format("%Y").to_string();
        let slots = Slots {
            code: code(&mut r),
            invoice: format!("INV-{year}-{:04}", 1 + r.below(999)),
            amount: format!("${}.{:02}", 5 + r.below(300), r.below(100)),
            date: format!("{} {}", 1 + r.below(28), r.pick(&MONTHS)),
            device: r.pick(&DEVICES),
            plan: r.pick(&PLANS),
            folder: r.pick(&FOLDERS),
            file: r.pick(&FILES),
            email: contact_email.clone(),
            first,
            last,
            agent: agent_first,
            reference: format!("R{}", 100_000 + r.below(900_000)),
            n: (2 + r.below(13)).to_string(),
        };
        let status = match r.below(100) {
            0..70 => Status::Resolved,
            70..85 => Status::Open,
            85..95 => Status::Pending,
            _ => Status::Snoozed,
        }
        .as_str();
        let mut tags: Vec<&'static str> = Vec::new();
        for _ in 0..r.below(4) {
            let t = r.pick(topic.tags);
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        if r.chance(5) {
            tags.push("urgent");
        }
        if lang != Lang::En {
            tags.push(lang.tag());
        }
        let subject = if r.chance(60) {
            Some(fill(r.pick(topic.subjects), &slots))
        } else {
            None
        };
        let inbox = if r.chance(70) {
            topic.inbox
        } else {
            r.below(INBOXES.len())
        };

        let n = self.counts[i] as usize;
        let mut messages = Vec::with_capacity(n);
        let mut at = created_at;
        let mut customer = true;
        for seq in 0..n {
            let private = !customer && seq > 0 && r.chance(5);
            let pools: [&[&str]; 2] = match (lang, customer, private) {
                (_, false, true) => [PRIVATE, PRIVATE],
                (Lang::En, true, _) => [topic.customer, CUSTOMER_GENERIC],
                (Lang::En, false, _) => [topic.agent, AGENT_GENERIC],
                (l, c, _) => {
                    let p = l.pool(c);
                    [p, p]
                }
            };
            let greeting = match (lang, customer, seq) {
                (Lang::En, true, 0) => Some(r.pick(CUSTOMER_OPENERS)),
                (Lang::En, false, 1) => Some(r.pick(AGENT_OPENERS)),
                _ => None,
            };
            let sign = lang == Lang::En && customer && seq == 0 && r.chance(15);
            let body = message_body(&mut r, greeting, pools, sign, &slots);
            messages.push(Msg {
                id: self.offsets[i] + seq as u64 + 1,
                seq: seq as i64 + 1,
                private,
                sender_type: if customer { "customer" } else { "agent" },
                created_at: at,
                body,
            });
            let gap = if r.chance(10) { 86_400 } else { 900 };
            at += Duration::seconds(20 + r.below(gap) as i64);
            if !private && !r.chance(20) {
                customer = !customer;
            }
        }
        let updated_at = messages.last().map_or(created_at, |m| m.created_at);
        Conv {
            index: i,
            id: Uuid::from_u64_pair(CONV_NS, i as u64 + 1),
            external_id: format!("bench-{:06}", i + 1),
            inbox,
            subject,
            status,
            tags,
            contact_name,
            contact_email,
            assignee,
            created_at,
            updated_at,
            messages,
        }
    }
}

/// 5–40 words: an optional greeting, then sentences from the pools until the target length.
fn message_body(
    r: &mut Rng,
    greeting: Option<&str>,
    pools: [&[&str]; 2],
    sign: bool,
    slots: &Slots,
) -> String {
    // Triangular over 5..=41, mean ≈ 23; capped at 40 below.
    let target = 5 + r.below(19) + r.below(19);
    let mut out = String::with_capacity(target * 7);
    let mut words = 0;
    let push = |out: &mut String, s: &str, words: &mut usize| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s);
        *words += s.split_whitespace().count();
    };
    if let Some(g) = greeting {
        push(&mut out, &fill(g, slots), &mut words);
    }
    let mut k = 0;
    while words < target {
        // Mostly on topic; every third sentence or so from the generic pool.
        let pool = if k > 0 && r.chance(30) {
            pools[1]
        } else {
            pools[0]
        };
        push(&mut out, &fill(r.pick(pool), slots), &mut words);
        k += 1;
    }
    if sign && words + 2 <= 40 {
        push(
            &mut out,
            &format!("– {} {}", slots.first, slots.last),
            &mut words,
        );
    }
    if words > 40 {
        out = out
            .split_whitespace()
            .take(40)
            .collect::<Vec<_>>()
            .join(" ");
    }
    out
}

/// Error codes: 40 % one of the twelve common ones (NW-1001…NW-1012), else any NW-1000…NW-9999.
fn code(r: &mut Rng) -> String {
    let n = if r.chance(40) {
        1001 + r.below(12)
    } else {
        1000 + r.below(9000)
    };
    format!("NW-{n}")
}

struct Slots {
    code: String,
    invoice: String,
    amount: String,
    date: String,
    device: &'static str,
    plan: &'static str,
    folder: &'static str,
    file: &'static str,
    email: String,
    first: String,
    last: String,
    agent: &'static str,
    reference: String,
    n: String,
}

/// Replaces `{code}`, `{inv}`, … in a sentence template.
fn fill(template: &str, s: &Slots) -> String {
    if !template.contains('{') {
        return template.to_string();
    }
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let key = &rest[open + 1..open + close];
        let v: &str = match key {
            "code" => &s.code,
            "inv" => &s.invoice,
            "amount" => &s.amount,
            "date" => &s.date,
            "device" => s.device,
            "plan" => s.plan,
            "folder" => s.folder,
            "file" => s.file,
            "email" => &s.email,
            "first" => &s.first,
            "last" => &s.last,
            "agent" => s.agent,
            "ref" => &s.reference,
            "n" => &s.n,
            _ => key,
        };
        out.push_str(v);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// ASCII e-mail local part of a name: lower case, diacritics and apostrophes dropped.
fn ascii_fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars().flat_map(char::to_lowercase) {
        let mapped = match ch {
            'á' | 'à' | 'â' | 'ä' | 'å' | 'ã' => "a",
            'é' | 'è' | 'ê' | 'ë' | 'ě' | 'ễ' => "e",
            'í' | 'ì' | 'î' | 'ï' => "i",
            'ó' | 'ò' | 'ô' | 'ö' | 'ø' | 'õ' => "o",
            'ú' | 'ù' | 'û' | 'ü' | 'ů' => "u",
            'ñ' => "n",
            'ç' | 'č' => "c",
            'ř' => "r",
            'š' => "s",
            'ł' => "l",
            'ß' => "ss",
            'ý' => "y",
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => "",
        };
        out.push_str(mapped);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Es,
    De,
    Fr,
}

impl Lang {
    fn tag(self) -> &'static str {
        match self {
            Lang::En => "english",
            Lang::Es => "spanish",
            Lang::De => "german",
            Lang::Fr => "french",
        }
    }

    fn pool(self, customer: bool) -> &'static [&'static str] {
        match (self, customer) {
            (Lang::Es, true) => ES_CUSTOMER,
            (Lang::Es, false) => ES_AGENT,
            (Lang::De, true) => DE_CUSTOMER,
            (Lang::De, false) => DE_AGENT,
            (Lang::Fr, true) => FR_CUSTOMER,
            (Lang::Fr, false) => FR_AGENT,
            (Lang::En, true) => CUSTOMER_GENERIC,
            (Lang::En, false) => AGENT_GENERIC,
        }
    }
}

struct Topic {
    inbox: usize,
    tags: &'static [&'static str],
    subjects: &'static [&'static str],
    customer: &'static [&'static str],
    agent: &'static [&'static str],
}

/// Topic weights in percent, in the order of [`TOPICS`].
const TOPIC_WEIGHTS: [usize; 8] = [20, 14, 9, 14, 10, 12, 13, 8];

fn pick_topic(r: &mut Rng) -> &'static Topic {
    let mut x = r.below(100);
    for (t, w) in TOPICS.iter().zip(TOPIC_WEIGHTS) {
        if x < w {
            return t;
        }
        x -= w;
    }
    &TOPICS[0]
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DEVICES: [&str; 8] = [
    "MacBook Air",
    "MacBook Pro",
    "Windows laptop",
    "Windows desktop",
    "iPhone",
    "Android phone",
    "iPad",
    "Linux desktop",
];
const PLANS: [&str; 4] = ["Free", "Plus", "Pro", "Business"];
const FOLDERS: [&str; 8] = [
    "Marketing",
    "Photos",
    "Budget 2024",
    "Clients",
    "Thesis",
    "Contracts",
    "Design assets",
    "Shared with me",
];
const FILES: [&str; 8] = [
    "report.docx",
    "budget.xlsx",
    "IMG_2041.jpg",
    "proposal-final.pdf",
    "wedding-video.mp4",
    "invoice-scan.pdf",
    "slides.pptx",
    "notes.txt",
];

const TOPICS: [Topic; 8] = [
    // sync
    Topic {
        inbox: 0,
        tags: &["sync", "desktop", "selective-sync", "conflicts", "paused"],
        subjects: &[
            "Desktop app stopped syncing ({code})",
            "Sync error {code}",
            "Files not syncing on my {device}",
            "Conflicted copies everywhere",
        ],
        customer: &[
            "My desktop app stopped syncing this morning and shows {code}.",
            "Files on my {device} are not syncing anymore, the icon is stuck on syncing.",
            "I keep getting a sync error {code} when I open the {folder} folder.",
            "Some files show a conflicted copy after syncing between my {device} and my phone.",
            "Selective sync is not working, folders I unchecked still download.",
            "Sync is paused and the app says the network is metered.",
            "The app says {code} and nothing has uploaded since {date}.",
            "Nobody in our office can sync since the proxy change.",
        ],
        agent: &[
            "{code} usually means the sync client lost its connection to our servers.",
            "Could you restart the app and tell me whether the sync error comes back?",
            "I can see the last successful sync from your {device} was on {date}.",
            "Please open Preferences, then Sync, and turn selective sync off and on again.",
            "A conflicted copy is created when the same file changes on two devices before syncing.",
            "The sync error {code} is fixed in version 4.{n} of the desktop app, please update.",
            "Sync pauses on metered networks, you can allow it under Preferences, Network.",
        ],
    },
    // billing and invoices
    Topic {
        inbox: 1,
        tags: &[
            "billing",
            "invoice",
            "double-charge",
            "vat",
            "failed-payment",
        ],
        subjects: &[
            "Charged twice on {date}",
            "Invoice {inv} wrong",
            "Payment failed – card expired",
            "Company name missing on invoice",
        ],
        customer: &[
            "I was charged twice on {date}, can you check my card?",
            "Why was I double charged for the {plan} plan?",
            "My payment failed because the card expired, how do I update it?",
            "I need an invoice with our company name and VAT number.",
            "Invoice {inv} shows the wrong amount, it should be {amount}.",
            "Can I switch from monthly to annual billing?",
            "How are seats prorated if I add {n} users mid-term?",
            "Please send me a copy of invoice {inv} for our accounting.",
        ],
        agent: &[
            "I checked your billing history and see two charges of {amount} on {date}.",
            "I have sent a corrected invoice {inv} to your email address.",
            "Seats added mid-term are prorated to the end of your billing period.",
            "You can update the card under Settings, Billing, Payment method.",
            "The second charge was a temporary authorization and will drop off within {n} days.",
            "Your invoices are listed under Settings, Billing, and each can be downloaded as PDF.",
        ],
    },
    // refunds
    Topic {
        inbox: 1,
        tags: &["billing", "refund", "cancellation", "double-charge"],
        subjects: &[
            "Refund for {plan} annual",
            "Charged after cancelling",
            "Refund request {ref}",
        ],
        customer: &[
            "I would like a refund for my {plan} annual plan.",
            "I cancelled last week but was still charged {amount}, please refund it.",
            "Can you refund the double charge from {date}?",
            "I requested a refund {n} days ago and have not received it yet.",
            "If you do not refund me I will file a chargeback with my bank.",
            "I was charged after cancelling my subscription, I expect a full refund.",
        ],
        agent: &[
            "I have refunded {amount} to your card, it can take five to ten business days to appear.",
            "Refunds for annual plans are prorated for the unused months.",
            "Your refund was processed on {date}, the reference is {ref}.",
            "I have escalated your refund request to our billing team.",
            "I can see the cancellation went through, so the charge of {amount} was refunded today.",
        ],
    },
    // passwords and sign-in
    Topic {
        inbox: 0,
        tags: &[
            "password",
            "password-reset",
            "account",
            "security",
            "2fa",
            "locked",
        ],
        subjects: &[
            "Password reset email not arriving",
            "Account temporarily locked ({code})",
            "Someone logged into my account",
            "Lost phone, no backup codes",
        ],
        customer: &[
            "The password reset email never arrives, I checked the spam folder.",
            "I forgot my password and the reset link has expired.",
            "My account is temporarily locked after too many sign-in attempts, it says {code}.",
            "I lost my phone and can no longer get two-factor codes.",
            "Someone logged into my account from a country I have never been to.",
            "I changed my password but the desktop app still asks for the old one.",
        ],
        agent: &[
            "I have sent a new password reset link to {email}, it is valid for 24 hours.",
            "For security the account is locked for 30 minutes after five failed sign-in attempts.",
            "Please use one of your backup codes to sign in and then set up two-factor again.",
            "I have signed out all sessions, please change your password right away.",
            "Password reset emails come from no-reply@northwind.example, please allow that sender.",
        ],
    },
    // sharing links and shared folders
    Topic {
        inbox: 0,
        tags: &["sharing", "links", "shared-folders", "permissions"],
        subjects: &[
            "Link temporarily unavailable",
            "Password for a shared link",
            "Stop someone deleting in my shared folder",
        ],
        customer: &[
            "The sharing link I sent to a client says temporarily unavailable.",
            "How do I set a password on a sharing link?",
            "Can I make a sharing link expire after {n} days?",
            "People outside my team cannot open the shared folder {folder}.",
            "Someone keeps deleting files in my shared folder.",
            "The download from my sharing link stops halfway for our clients.",
        ],
        agent: &[
            "Links are temporarily unavailable when they exceed the daily traffic limit.",
            "You can add a password and an expiry date in the sharing link settings.",
            "Shared folder permissions can be set to view only for each member.",
            "I have reset the traffic counter on your sharing link, it works again.",
        ],
    },
    // restore, version history, ransomware
    Topic {
        inbox: 0,
        tags: &[
            "restore",
            "deleted-files",
            "version-history",
            "ransomware",
            "rollback",
        ],
        subjects: &[
            "Restore deleted {folder} folder",
            "Saved over my {file}",
            "Ransomware in {folder} folder",
            "Update deleted my files",
        ],
        customer: &[
            "I accidentally deleted the {folder} folder, can I restore it?",
            "I saved over my {file} yesterday, is there an older version?",
            "Ransomware encrypted all files in our {folder} folder.",
            "How far back can I restore deleted files on the {plan} plan?",
            "An update deleted my files, please help me get them back.",
            "I emptied the trash by mistake and need {file} back.",
        ],
        agent: &[
            "You can restore deleted files from the web app under Deleted files for {n} days.",
            "Open the version history of {file} and pick the version from {date}.",
            "With a rollback we can restore the whole folder to its state before {date}.",
            "I have started the restore, it should finish within the hour.",
            "Files removed from the trash can still be restored by our team within 30 days.",
        ],
    },
    // errors, uploads, performance
    Topic {
        inbox: 3,
        tags: &[
            "bug",
            "upload",
            "desktop",
            "mobile",
            "disk-space",
            "camera-upload",
        ],
        subjects: &[
            "File won't upload, red X",
            "App crashes on startup",
            "{code} on files from my {device}",
            "Uploads very slow",
        ],
        customer: &[
            "The upload fails with a red X on {file}.",
            "The app crashes on startup since the last update on my {device}.",
            "Uploading is very slow from the office, around {n}00 KB/s.",
            "I get error {code} on files with long names.",
            "My {device} is out of disk space because of the Northwind folder.",
            "Camera upload duplicated all my photos after the update.",
        ],
        agent: &[
            "Error {code} means the file name contains characters that Windows does not allow.",
            "Please send us the log file from Help, Send diagnostics, so we can look at the crash.",
            "Online-only files free up disk space while staying visible in the folder.",
            "Can you check whether a proxy or firewall is blocking uploads?",
            "The crash on startup is a known error in version 4.{n}, a fix ships this week.",
        ],
    },
    // admin: GDPR, SSO, offboarding, audit log
    Topic {
        inbox: 2,
        tags: &[
            "gdpr",
            "sso",
            "users",
            "data-export",
            "offboarding",
            "audit-log",
        ],
        subjects: &[
            "GDPR: export my data, then delete account",
            "SAML test fails: signature invalid",
            "Offboarding a designer – keep his files",
            "Audit log export",
        ],
        customer: &[
            "Please export all my data and then delete my account.",
            "How do I transfer files from a leaving employee to their manager?",
            "Our SAML login with Okta fails with signature invalid.",
            "I need the audit log of sharing events for the last quarter.",
            "We are adding {n} seats for new hires, how do I invite them?",
        ],
        agent: &[
            "The export will be ready within 48 hours and we will email you a download link.",
            "An admin can transfer a member's files under Admin console, Users.",
            "Please upload the new certificate from Okta to the SSO settings.",
            "You can export the audit log as CSV from the Admin console.",
            "Your account and all files will be deleted 30 days after the export.",
        ],
    },
];

const CUSTOMER_OPENERS: &[&str] = &[
    "Hi,",
    "Hello,",
    "Hi there,",
    "Good morning,",
    "Hello support team,",
];
const AGENT_OPENERS: &[&str] = &[
    "Hi {first}, thanks for reaching out!",
    "Hello {first},",
    "Dear {first} {last},",
    "Hi {first}, {agent} here from Northwind Support.",
    "Thanks for your patience, {first}.",
];
const CUSTOMER_GENERIC: &[&str] = &[
    "I need some help with my account.",
    "Thanks, that worked!",
    "Any update on this?",
    "I already tried that and it still does not work.",
    "This is urgent, our whole team is blocked.",
    "Thank you for the quick answer.",
    "I am on the {plan} plan if that matters.",
    "It happens on my {device} too.",
    "Could you please look into it today?",
];
const AGENT_GENERIC: &[&str] = &[
    "Let me check that with our team and get back to you.",
    "Is there anything else I can help you with?",
    "I am glad it works now, have a great day!",
    "Sorry for the trouble, {first}.",
    "Could you send me a screenshot of the error message?",
    "I will keep this conversation open until you confirm.",
    "Best regards, {agent} from Northwind Support.",
];
const PRIVATE: &[&str] = &[
    "Internal note: customer is on {plan}, checked with billing.",
    "Escalated to tier 2, see ticket {ref}.",
    "Possible duplicate of another report about {code}, linking them.",
    "Customer was rude in the last call, keep answers short and factual.",
];
const ES_CUSTOMER: &[&str] = &[
    "Hola, no puedo recuperar archivos borrados de la carpeta {folder}.",
    "Me cobraron dos veces el {date}, necesito un reembolso.",
    "La aplicación no sincroniza desde ayer y muestra {code}.",
    "Gracias por la ayuda, ya funciona.",
    "No recibo el correo para restablecer la contraseña.",
];
const ES_AGENT: &[&str] = &[
    "Hola {first}, ya he procesado el reembolso de {amount}.",
    "Puede recuperar los archivos borrados durante {n} días desde la web.",
    "El error {code} indica que la aplicación perdió la conexión.",
    "¿Hay algo más en lo que pueda ayudarle?",
];
const DE_CUSTOMER: &[&str] = &[
    "Die Synchronisierung funktioniert seit gestern nicht mehr, Fehler {code}.",
    "Auf der Rechnung {inv} fehlt die MwSt.",
    "Ich habe mein Passwort vergessen und die E-Mail kommt nicht an.",
    "Danke für die schnelle Hilfe.",
    "Das Internet im Homeoffice ist langsam und der Upload bricht ab.",
];
const DE_AGENT: &[&str] = &[
    "Hallo {first}, ich habe Ihnen eine korrigierte Rechnung {inv} geschickt.",
    "Die Erstattung dauert fünf bis zehn Werktage.",
    "Bitte starten Sie die App neu und prüfen Sie, ob der Fehler {code} bleibt.",
    "Kann ich sonst noch etwas für Sie tun?",
];
const FR_CUSTOMER: &[&str] = &[
    "Bonjour, j'ai perdu mon téléphone et je n'ai plus de codes de secours.",
    "Le lien de partage est temporairement indisponible.",
    "J'ai été débité deux fois le {date}, merci de vérifier.",
    "Merci beaucoup pour votre aide.",
    "Je n'arrive pas à restaurer le dossier {folder}.",
];
const FR_AGENT: &[&str] = &[
    "Bonjour {first}, j'ai réinitialisé la double authentification de votre compte.",
    "Le remboursement de {amount} a été effectué aujourd'hui.",
    "Vous pouvez restaurer les fichiers supprimés pendant {n} jours.",
    "Puis-je vous aider pour autre chose ?",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            messages: 5_000,
            conversations: 500,
            seed: 42,
        }
    }

    #[test]
    fn exact_totals_and_deterministic() {
        let c = Corpus::new(spec()).unwrap();
        let all: Vec<Conv> = (0..c.len()).map(|i| c.conversation(i)).collect();
        let total: usize = all.iter().map(|c| c.messages.len()).sum();
        assert_eq!(total, 5_000);
        let ids: Vec<u64> = all
            .iter()
            .flat_map(|c| c.messages.iter().map(|m| m.id))
            .collect();
        assert_eq!(ids, (1..=5_000).collect::<Vec<_>>());
        let again = Corpus::new(spec()).unwrap().conversation(123);
        assert_eq!(again.messages[0].body, all[123].messages[0].body);
        assert_eq!(again.contact_email, all[123].contact_email);
        for m in all.iter().flat_map(|c| &c.messages) {
            let n = m.body.split_whitespace().count();
            assert!((5..=40).contains(&n), "{n} words: {}", m.body);
            assert!(!m.body.contains('{'), "unfilled slot: {}", m.body);
        }
        let text: String = all
            .iter()
            .flat_map(|c| &c.messages)
            .map(|m| m.body.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        for needle in ["NW-1004", "Müller", "refund", "sharing link", "INV-20"] {
            assert!(text.contains(needle), "{needle} missing from the corpus");
        }
    }

    #[test]
    fn folds_names_for_emails() {
        assert_eq!(ascii_fold("Ñúñez"), "nunez");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("Groß"), "gross");
    }
}
