//! Moderation: pure rules: decisions, write plans, visibility and counters, with no I/O.

#[allow(unused_imports)]
use super::*;

/// Whether [`classify_all`] hides these texts at the default threshold.
pub fn check_text<'a>(texts: impl IntoIterator<Item = &'a str>) -> Verdict {
    match classify_all(texts, &TextContext::with_threshold(DEFAULT_THRESHOLD)).decision {
        Decision::Hide => Verdict::Flagged,
        Decision::Allow => Verdict::Clean,
    }
}

/// One verdict for several texts of one item (a profile's fields): each is classified
/// on its own (a pattern never spans two fields), and each category keeps its highest
/// confidence and every signal.
pub fn classify_all<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    context: &TextContext,
) -> Classification {
    let mut merged: Vec<CategoryScore> = Vec::new();
    for verdict in texts.into_iter().map(|text| classify(text, context)) {
        for score in verdict.categories {
            match merged.iter_mut().find(|m| m.category == score.category) {
                Some(known) => {
                    known.confidence = known.confidence.max(score.confidence);
                    for signal in score.signals {
                        if !known.signals.contains(&signal) {
                            known.signals.push(signal);
                        }
                    }
                }
                None => merged.push(score),
            }
        }
    }
    Classification::decide(merged, context.threshold)
}

// ---------------------------------------------------------------------------------
// The classifier: what a text is, with how sure it is, category by category
// ---------------------------------------------------------------------------------

/// The confidence at or above which content is hidden, unless configured
/// (`MODERATION_CONFIDENCE_THRESHOLD`).
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// What the classifier looks for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
// Named apart from the discussions' `Category` (a topic category) in the OpenAPI
// document, whose components share one namespace.
#[schema(as = ModerationCategory)]
pub enum Category {
    /// Swearing (rustrict's profane words, moderate or severe).
    Profanity,
    /// Insults, slurs and threats (rustrict's offensive and mean words, and threats).
    Harassment,
    /// Sexual content.
    Sexual,
    /// Personal data: e-mail addresses, phone numbers, card numbers and IBANs (the last
    /// two only when their checksums hold).
    Pii,
    /// Link stuffing, repetition, promotion and bursts of posts.
    Spam,
    /// A word or phrase the community or the user restricted.
    RestrictedKeyword,
    /// Financial scams and misinformation: guaranteed returns, pump schemes,
    /// advance-fee requests, false claims about taxes and banks.
    Scam,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Profanity,
        Category::Harassment,
        Category::Sexual,
        Category::Pii,
        Category::Spam,
        Category::RestrictedKeyword,
        Category::Scam,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Profanity => "profanity",
            Category::Harassment => "harassment",
            Category::Sexual => "sexual",
            Category::Pii => "pii",
            Category::Spam => "spam",
            Category::RestrictedKeyword => "restrictedKeyword",
            Category::Scam => "scam",
        }
    }
}

/// One category a text matched, with the classifier's confidence (0–1) and what it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryScore {
    pub category: Category,
    pub confidence: f64,
    /// What matched, in words (never the matched personal data itself).
    pub signals: Vec<String>,
}

/// Whether the content is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    Allow,
    Hide,
}

/// The classifier's verdict on one text: the decision, the highest confidence, and
/// every category it matched (most confident first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    pub decision: Decision,
    pub confidence: f64,
    pub categories: Vec<CategoryScore>,
}

impl Classification {
    /// The verdict of these category scores: most confident first, hidden at or above
    /// `threshold`.
    fn decide(mut categories: Vec<CategoryScore>, threshold: f64) -> Self {
        categories.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(a.category.cmp(&b.category))
        });
        let confidence = categories.first().map_or(0.0, |c| c.confidence);
        Self {
            decision: if confidence >= threshold {
                Decision::Hide
            } else {
                Decision::Allow
            },
            confidence,
            categories,
        }
    }

    /// The confidence of `category` (0 when it did not match).
    pub fn confidence_of(&self, category: Category) -> f64 {
        self.categories
            .iter()
            .find(|c| c.category == category)
            .map_or(0.0, |c| c.confidence)
    }
}

/// What the classifier knows besides the text.
#[derive(Debug, Clone, Default)]
pub struct TextContext {
    /// Hide at or above this confidence.
    pub threshold: f64,
    /// Words and phrases restricted where the text is posted (its community's) and by
    /// its author's own list; matched whole and case-insensitively.
    pub restricted: Vec<String>,
    /// How many texts the author posted in the last minute before this one.
    pub recent_posts: u32,
}

impl TextContext {
    pub fn with_threshold(threshold: f64) -> Self {
        Self {
            threshold,
            ..Self::default()
        }
    }
}

/// Classifies one text. Pure: the same text and context give the same verdict.
pub fn classify(text: &str, context: &TextContext) -> Classification {
    let mut found: Vec<CategoryScore> = Vec::new();
    let mut add = |category: Category, signals: Vec<(f64, String)>| {
        if signals.is_empty() {
            return;
        }
        // Independent signals add up as a noisy-or: two weak hints are stronger than one.
        let confidence = 1.0 - signals.iter().map(|(c, _)| 1.0 - c).product::<f64>();
        found.push(CategoryScore {
            category,
            confidence: (confidence * 100.0).round() / 100.0,
            signals: signals.into_iter().map(|(_, s)| s).collect(),
        });
    };
    let (profane, offensive, sexual) = word_lists(text);
    add(Category::Profanity, profane);
    add(
        Category::Harassment,
        [offensive, matches(&PATTERNS.harassment, text)].concat(),
    );
    add(
        Category::Sexual,
        [sexual, matches(&PATTERNS.sexual, text)].concat(),
    );
    add(Category::Pii, personal_data(text));
    add(Category::Spam, spam(text, context.recent_posts));
    add(
        Category::RestrictedKeyword,
        restricted_words(text, &context.restricted),
    );
    add(Category::Scam, scam(text));
    Classification::decide(found, context.threshold)
}

type Signals = Vec<(f64, String)>;

/// rustrict's verdict on profane, offensive-or-mean and sexual words, by severity, on
/// the text's words (tokens that are mostly digits, ids and codes of 12 or more letters
/// and digits, e-mail addresses and links are left out: rustrict reads digits as
/// disguised letters, so phone numbers and ids looked obscene).
///
/// - Profane words are profanity (moderate 0.85, severe 0.95).
/// - Offensive words (slurs) are harassment; mean words are harassment only when the
///   text is addressed to someone ("you"): "I hate Mondays" is not.
/// - rustrict rates expletives such as "fuck" sexual too, so a sexual word alone is a
///   hint (0.5), and only a severe one, or solicitation patterns, make it sexual content.
fn word_lists(text: &str) -> (Signals, Signals, Signals) {
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|token| {
            let digits = token.chars().filter(char::is_ascii_digit).count();
            let letters = token.chars().filter(|c| c.is_alphabetic()).count();
            // Ids, codes and hashes ("01M8F9TE23NYFQ0CNA7EQN12DH"): rustrict finds
            // obscene words in 3% of random ULIDs.
            let code = token.chars().count() >= 12 && digits >= 2 && letters >= 2;
            letters > digits && !code && !token.contains('@') && !token.contains("://")
        })
        .filter(|token| {
            let word = token
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            !NOT_OBSCENE.contains(&word.as_str())
        })
        .collect();
    let analysis = Censor::from_str(&words.join(" ")).analyze();
    let severity = |kind: Type| {
        if analysis.is(kind & Type::SEVERE) {
            Some("severe")
        } else if analysis.is(kind & Type::MODERATE) {
            Some("moderate")
        } else {
            None
        }
    };
    let mut profane = Signals::new();
    if let Some(level) = severity(Type::PROFANE) {
        let confidence = if level == "severe" { 0.95 } else { 0.85 };
        profane.push((confidence, format!("{level} profane words")));
    }
    let mut harassing = Signals::new();
    if let Some(level) = severity(Type::OFFENSIVE) {
        let confidence = if level == "severe" { 0.95 } else { 0.85 };
        harassing.push((confidence, format!("{level} offensive words")));
    }
    let mean = severity(Type::MEAN).or(analysis.is(Type::MEAN & Type::MILD).then_some("mild"));
    if let Some(level) = mean {
        harassing.push((0.5, format!("{level} mean words")));
        if PATTERNS.addressed.iter().any(|r| r.is_match(text)) {
            harassing.push((0.65, "aimed at someone".to_owned()));
        }
    }
    let mut sexual = Signals::new();
    match severity(Type::SEXUAL) {
        Some("severe") => sexual.push((0.9, "severe sexual words".to_owned())),
        Some(level) => sexual.push((0.5, format!("{level} sexual words"))),
        None => {}
    }
    (profane, harassing, sexual)
}

/// Words rustrict mistakes for obscene ones (it reads "bitcoin" as a slur), which a
/// finance community writes every day.
const NOT_OBSCENE: &[&str] = &["bitcoin", "bitcoins"];

/// A pattern, how much one match says, and what it is called in a verdict.
struct Pattern {
    regex: regex::Regex,
    confidence: f64,
    name: &'static str,
}

struct Patterns {
    harassment: Vec<Pattern>,
    sexual: Vec<Pattern>,
    scam: Vec<Pattern>,
    promotion: Vec<Pattern>,
    phone: Option<regex::Regex>,
    card: Option<regex::Regex>,
    iban: Option<regex::Regex>,
    bare_link: Option<regex::Regex>,
    /// The text speaks to someone ("you", "your", "u").
    addressed: Option<regex::Regex>,
    /// The text warns about scams rather than runs one.
    warning: Option<regex::Regex>,
    /// Words that say a number is a phone's.
    phone_words: Option<regex::Regex>,
    /// How many of the patterns written below compiled (a test holds them equal).
    #[cfg_attr(not(test), allow(dead_code))]
    compiled: usize,
    #[cfg_attr(not(test), allow(dead_code))]
    written: usize,
}

const HARASSMENT: &[(&str, f64, &str)] = &[
    (
        r"\b(kill|hang|shoot|end) (yo)?ur ?self\b|\bkys\b",
        0.95,
        "urging self-harm",
    ),
    (
        r"\bnobody (would|will) (miss|care about) you\b|\byou (should|deserve to|ought to) die\b|\bgo die\b",
        0.95,
        "wishing death",
    ),
    (
        r"\bi('ll| will|'m going to| am going to| know where you live,? i'll) (find|hurt|beat|kill|destroy) you\b|\bi know where you live\b",
        0.9,
        "a threat",
    ),
    (
        r"\byou('re| are) (such )?(a |an )?(worthless|pathetic|useless|brainless|waste of (space|air|oxygen)|garbage|trash|loser|moron|idiot)\b",
        0.85,
        "an insult",
    ),
    (
        r"\byou (pathetic|worthless|useless|stupid|dumb|ugly|fat|disgusting) (excuse|idiot|loser|moron|clown|pig|failure|fraud)\b|\bdie already\b",
        0.9,
        "an insult",
    ),
    (
        r"\bgo back to (your|ur) (own )?country\b",
        0.9,
        "xenophobic abuse",
    ),
    (
        r"\b(shut up|get lost),? (you )?(idiot|loser|moron|clown)\b|\bnobody (likes|wants) you\b|\beveryone hates you\b",
        0.85,
        "an insult",
    ),
];

const SEXUAL: &[(&str, f64, &str)] = &[
    (
        r"\b(send|show) (me )?(your )?(nudes|naked (pics|photos|pictures))\b",
        0.95,
        "asking for nudes",
    ),
    (
        r"\b(onlyfans|nsfw|sext(ing)?|hook ?up tonight|horny|milfs?|xxx|nude photos|blowjobs?)\b",
        0.85,
        "sexual solicitation",
    ),
    (
        r"\b(want to|wanna|let me|let's|i'd love to) (fuck|have sex|sleep with|sext|lick you|touch you|see you naked)\b|\bsee my (cock|dick)\b|\bshow me your (boobs|tits|body)\b|\bcum\b",
        0.85,
        "a sexual advance",
    ),
    (
        r"\b(nice|great|hot) (ass|tits|boobs|body)\b|\b(your|her) (tits|boobs|ass) (look|are|is)\b|\b(cock|dick|pussy|tits|boobs) pics?\b|\b(pussy|dick|cock) (pics|photos)\b|\bso (fuckable|sexy)\b|\banal tonight\b|\bjerk off\b|\bmasturbat",
        0.85,
        "sexual content",
    ),
];

const SCAM: &[(&str, f64, &str)] = &[
    // Guaranteed returns.
    (
        r"\bguarantee(d|s)?\b[^.!?]{0,40}\b(returns?|profits?|income|gains|payouts?|roi)\b",
        0.9,
        "guaranteed returns",
    ),
    (
        r"\b(returns?|profits?|income|gains|payouts?|roi)\b[^.!?]{0,20}\bguaranteed\b",
        0.9,
        "guaranteed returns",
    ),
    (
        r"\b(risk[- ]free|zero[- ]risk|no[- ]risk)\b[^.!?]{0,30}\b(returns?|profits?|investment|income|trading)\b",
        0.85,
        "risk-free returns",
    ),
    (
        r"\b(double|triple|10x|100x) (your|ur) (money|investment|savings|bitcoin|btc|crypto|deposit)\b",
        0.9,
        "doubling money",
    ),
    (
        r"\b\d{1,4} ?% (daily|weekly|a day|a week|per day|per week|every day|every week)\b",
        0.85,
        "an impossible return",
    ),
    // Pump schemes.
    (
        r"\bpump\b[^.!?]{0,30}\b(coins?|tokens?|stocks?|crypto|group|signals?|shares?)\b",
        0.85,
        "a pump scheme",
    ),
    (
        r"\bbuy (it |in )?(now |today )?before (it|the price) (explodes|moons|skyrockets|takes off|goes parabolic)\b",
        0.85,
        "buy-before-it-explodes",
    ),
    (
        r"\b(next|another|new) \d{2,4}x (coin|gem|token|stock|play)\b",
        0.85,
        "a 100x promise",
    ),
    (r"\bto the moon\b", 0.45, "to-the-moon hype"),
    (
        r"\bguaranteed \d+x\b|\b\d+x guaranteed\b",
        0.9,
        "a guaranteed multiple",
    ),
    (
        r"\b(insider|vip) (tips?|signals?|group)\b",
        0.6,
        "insider signals",
    ),
    // Advance-fee requests.
    (
        r"\b(pay|send|transfer|wire|deposit)\b[^.!?]{0,40}\b(fee|tax|deposit|charge)\b[^.!?]{0,40}\b(release|unlock|receive|claim|withdraw|transfer)\b",
        0.9,
        "an advance fee",
    ),
    (
        r"\b(release|unlock|claim) (your|the) (funds|payment|prize|winnings|inheritance)\b",
        0.7,
        "funds held until paid",
    ),
    (
        r"\b(customs|clearance|processing|activation|release|transfer|lawyer) fee\b",
        0.6,
        "a fee to be paid first",
    ),
    (
        r"\b(inheritance|unclaimed (funds|prize)|lottery win(ner|nings)?|you have (won|been selected))\b",
        0.6,
        "a windfall",
    ),
    (
        r"\b(gift ?cards?|western union|moneygram)\b[^.!?]{0,40}\b(pay|send|buy)\b|\b(pay|send|buy)\b[^.!?]{0,40}\b(gift ?cards?|western union|moneygram)\b",
        0.6,
        "untraceable payment",
    ),
    // Misinformation.
    (
        r"\b(income )?tax(es)? (is|are) (optional|voluntary|illegal|unconstitutional)\b|\byou (don't|do not) (have|need) to (pay|file) (income )?tax(es)?\b",
        0.9,
        "false tax claims",
    ),
    (
        r"\bbanks? (will|are going to|is going to) (collapse|fail|freeze (all )?accounts)\b[^.!?]{0,30}\b(tomorrow|next week|this week|monday|friday)\b",
        0.85,
        "a bank-run scare",
    ),
    (
        r"\bwithdraw (all|everything|all your (money|savings))\b[^.!?]{0,20}\b(now|today|immediately)\b",
        0.6,
        "urging withdrawals",
    ),
    (
        r"\b(credit scores?|inflation) (is|are) (fake|a myth|a hoax)\b",
        0.85,
        "false finance claims",
    ),
];

const PROMOTION: &[(&str, f64, &str)] = &[
    (
        r"\b(buy now|order now|act now|click (here|the link|my link|below)|limited([- ]time)? offer|offer ends (today|tonight|soon)|only today)\b",
        0.8,
        "a sales pitch",
    ),
    (
        r"\b(100% free|free (money|gift ?cards?|iphones?|followers|crypto|bitcoin))\b",
        0.85,
        "free stuff",
    ),
    (
        r"\b(earn|make) \$?\d[\d,.]*k? (a|per|every) (day|week|hour)\b|\bwork from home and (earn|make)\b",
        0.85,
        "easy earnings",
    ),
    (
        r"\bjoin my (telegram|discord|whatsapp|group|channel)\b|\b(dm|message|whatsapp|telegram) me (for|to (get|learn|join|earn))\b|\bcheck (out )?my (profile|bio|channel|page) for\b|\bsubscribe to my\b|\buse (my )?(promo|referral|discount) code\b",
        0.8,
        "self-promotion",
    ),
];

static PATTERNS: std::sync::LazyLock<Patterns> = std::sync::LazyLock::new(|| {
    let compile = |list: &[(&str, f64, &'static str)]| -> Vec<Pattern> {
        list.iter()
            .filter_map(|(source, confidence, name)| {
                regex::RegexBuilder::new(source)
                    .case_insensitive(true)
                    .build()
                    .ok()
                    .map(|regex| Pattern {
                        regex,
                        confidence: *confidence,
                        name,
                    })
            })
            .collect()
    };
    let single = |source: &str| {
        regex::RegexBuilder::new(source)
            .case_insensitive(true)
            .build()
    };
    let lists = [HARASSMENT, SEXUAL, SCAM, PROMOTION];
    let (harassment, sexual, scam, promotion) = (
        compile(HARASSMENT),
        compile(SEXUAL),
        compile(SCAM),
        compile(PROMOTION),
    );
    let singles = [
        // A run of 9–15 digits with separators, or starting with + or 0.
        single(r"(\+|\b)\d[\d \t().-]{7,20}\d\b"),
        // 13–19 digits, alone or in groups.
        single(r"\b\d(?:[ -]?\d){12,18}\b"),
        // A country code, check digits, then 11–30 letters and digits (in groups or not).
        single(r"\b[a-z]{2}\d{2}(?: ?[a-z0-9]){11,30}\b"),
        single(
            r"\bwww\.[a-z0-9-]+\.[a-z]{2,}\S*|\b(bit\.ly|tinyurl\.com|t\.me|goo\.gl|wa\.me)/\S+",
        ),
        single(r"\b(you|your|you're|ur|u|yourself)\b"),
        single(
            r"\b(never (be )?guaranteed|(is|are) (a |running a )?scams?|beware( of)?|be careful|red flags?|don't fall for|is (a )?fraud|how (these|such) schemes)\b",
        ),
        single(r"\b(phone|mobile|cell|call|text|tel|whatsapp|ring|number)\b"),
    ];
    let written = lists.iter().map(|l| l.len()).sum::<usize>() + singles.len();
    let compiled = harassment.len()
        + sexual.len()
        + scam.len()
        + promotion.len()
        + singles.iter().filter(|r| r.is_ok()).count();
    let [
        phone,
        card,
        iban,
        bare_link,
        addressed,
        warning,
        phone_words,
    ] = singles.map(Result::ok);
    Patterns {
        harassment,
        sexual,
        scam,
        promotion,
        phone,
        card,
        iban,
        bare_link,
        addressed,
        warning,
        phone_words,
        compiled,
        written,
    }
});

fn matches(patterns: &[Pattern], text: &str) -> Signals {
    patterns
        .iter()
        .filter(|p| p.regex.is_match(text))
        .map(|p| (p.confidence, p.name.to_owned()))
        .collect()
}

/// Scam patterns, each worth less in a text that warns about scams ("returns are never
/// guaranteed", "anyone promising this is running a scam").
fn scam(text: &str) -> Signals {
    let warns = PATTERNS.warning.iter().any(|r| r.is_match(text));
    matches(&PATTERNS.scam, text)
        .into_iter()
        .map(|(confidence, name)| match warns {
            true => (confidence * 0.5, format!("{name} (in a warning)")),
            false => (confidence, name),
        })
        .collect()
}

/// E-mail addresses, phone numbers, card numbers (Luhn) and IBANs (mod 97).
fn personal_data(text: &str) -> Signals {
    let mut signals = Signals::new();
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Email]);
    if finder.links(text).next().is_some() {
        signals.push((0.9, "an e-mail address".to_owned()));
    }
    let mut card_spans = Vec::new();
    for found in PATTERNS.card.iter().flat_map(|r| r.find_iter(text)) {
        let digits: Vec<u32> = found
            .as_str()
            .chars()
            .filter_map(|c| c.to_digit(10))
            .collect();
        if luhn_valid(&digits) {
            card_spans.push(found.range());
            signals.push((0.97, "a card number".to_owned()));
            break;
        }
    }
    // An IBAN's match may run on into the next words ("… 0130 00 please"): try its
    // words from all of them down to the first, as its checksum decides.
    'ibans: for found in PATTERNS.iban.iter().flat_map(|r| r.find_iter(text)) {
        let words: Vec<&str> = found.as_str().split_whitespace().collect();
        for count in (1..=words.len()).rev() {
            let compact = words[..count].concat().to_ascii_uppercase();
            if compact.parse::<iban::Iban>().is_ok() {
                signals.push((0.97, "an IBAN".to_owned()));
                break 'ibans;
            }
        }
    }
    for found in PATTERNS.phone.iter().flat_map(|r| r.find_iter(text)) {
        if card_spans
            .iter()
            .any(|span| span.start <= found.start() && found.end() <= span.end)
        {
            continue;
        }
        let raw = found.as_str();
        let digits = raw.chars().filter(char::is_ascii_digit).count();
        let separated = raw.chars().any(|c| !c.is_ascii_digit());
        let dialled = raw.starts_with('+') || raw.starts_with('0');
        let named = PATTERNS.phone_words.iter().any(|r| r.is_match(text));
        if (9..=15).contains(&digits) && (separated || dialled || named || digits >= 10) {
            signals.push((0.85, "a phone number".to_owned()));
            break;
        }
    }
    signals
}

/// The Luhn checksum of a card number's digits.
fn luhn_valid(digits: &[u32]) -> bool {
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| match (i % 2, d * 2) {
            (0, _) => *d,
            (_, doubled) if doubled > 9 => doubled - 9,
            (_, doubled) => doubled,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The links in `text`: URLs with a scheme, `www.` addresses, and link shorteners'
/// (`bit.ly/…`).
pub fn links_in(text: &str) -> usize {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    finder.links(text).count()
        + PATTERNS
            .bare_link
            .iter()
            .map(|r| r.find_iter(text).count())
            .sum::<usize>()
}

/// Link stuffing, repetition, promotion, and a burst of posts by one author.
fn spam(text: &str, recent_posts: u32) -> Signals {
    let mut signals = Signals::new();
    let links = links_in(text);
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let density = links as f64 / words.len().max(1) as f64;
    if links >= 3 || (links >= 2 && density >= 0.15) {
        signals.push((0.85, format!("{links} links")));
    } else if links >= 1 && words.len() <= 6 {
        signals.push((0.3, "a bare link".to_owned()));
    }
    if words.len() >= 8 {
        let distinct: std::collections::HashSet<&String> = words.iter().collect();
        let ratio = distinct.len() as f64 / words.len() as f64;
        if ratio < 0.3 {
            signals.push((0.85, "repeated words".to_owned()));
        }
    }
    if longest_run(text) >= 12 {
        signals.push((0.5, "a repeated character".to_owned()));
    }
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 20 && letters.iter().all(|c| !c.is_lowercase()) {
        signals.push((0.4, "all capitals".to_owned()));
    }
    signals.extend(matches(&PATTERNS.promotion, text));
    if recent_posts >= 5 {
        signals.push((0.9, format!("{recent_posts} posts in the last minute")));
    } else if recent_posts >= 3 {
        signals.push((0.5, format!("{recent_posts} posts in the last minute")));
    }
    signals
}

/// The longest run of one repeated non-space character.
fn longest_run(text: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut previous = None;
    for c in text.chars() {
        if Some(c) == previous && !c.is_whitespace() {
            run += 1;
        } else {
            run = 1;
        }
        previous = Some(c);
        best = best.max(run);
    }
    best
}

/// The restricted words and phrases the text contains, whole and in any case, however
/// a phrase's words are spaced (a word that starts or ends with a symbol, such as
/// `$SCAM` or `c++`, is matched whole too).
fn restricted_words(text: &str, restricted: &[String]) -> Signals {
    restricted
        .iter()
        .filter(|word| !word.trim().is_empty())
        .filter(|word| {
            let words: Vec<String> = word.split_whitespace().map(regex::escape).collect();
            let whole = format!(r"(?:^|\W){}(?:$|\W)", words.join(r"\s+"));
            regex::RegexBuilder::new(&whole)
                .case_insensitive(true)
                .build()
                .is_ok_and(|r| r.is_match(text))
        })
        .map(|word| (1.0, format!("restricted: {}", word.trim())))
        .collect()
}

// ---------------------------------------------------------------------------------
// Screening: which texts are checked, and who sees what was hidden
// ---------------------------------------------------------------------------------

/// The text of an item as `screened` declares it: each text attribute's name and value
/// (absent or non-string attributes count as empty).
pub fn text_of(item: &Item, screened: &Screened) -> Vec<(&'static str, String)> {
    screened
        .text
        .iter()
        .map(|name| {
            let value = match item.get(*name) {
                Some(AttributeValue::S(value)) => value.clone(),
                _ => String::new(),
            };
            (*name, value)
        })
        .collect()
}

/// The SHA-256 (hex) of an item's text: what a job names, so the worker knows whether
/// the text changed since it was queued.
pub fn digest_of(text: &[(&'static str, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (name, value) in text {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest of the text a change needs checked: its new text when that differs from
/// the old one and is not empty (a deleted item's text is wiped). Pure.
pub fn screening_needed(
    old: Option<&Item>,
    new: Option<&Item>,
    screened: &Screened,
) -> Option<String> {
    let text = text_of(new?, screened);
    if text.iter().all(|(_, value)| value.trim().is_empty()) {
        return None;
    }
    let digest = digest_of(&text);
    let unchanged = old.is_some_and(|old| digest_of(&text_of(old, screened)) == digest);
    (!unchanged).then_some(digest)
}

/// The UTC minute an author's burst is counted in (`2026-11-27T18:04`). Pure.
pub fn burst_minute(now: time::OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute()
    )
}

/// The verdict on a text at the configured threshold, given what else is `known`
/// (restricted words, the author's burst; its threshold is the configured one); with
/// automatic moderation off, everything is clean. Pure (but for the time it is checked).
pub fn screening_of(
    text: &[(&'static str, String)],
    settings: &ModerationConfig,
    known: TextContext,
) -> Screening {
    if !settings.enabled {
        return Screening {
            status: ScreeningStatus::Clean,
            confidence: 0.0,
            categories: Vec::new(),
            checked_at: now_rfc3339(),
            reviewed_by: None,
            reviewed_at: None,
        };
    }
    let context = TextContext {
        threshold: settings.threshold,
        ..known
    };
    let verdict = classify_all(text.iter().map(|(_, value)| value.as_str()), &context);
    let hidden = verdict.decision == Decision::Hide;
    Screening {
        status: if hidden {
            ScreeningStatus::Hidden
        } else {
            ScreeningStatus::Clean
        },
        confidence: verdict.confidence,
        categories: verdict
            .categories
            .iter()
            .filter(|c| hidden && c.confidence >= settings.threshold)
            .map(|c| c.category)
            .collect(),
        checked_at: now_rfc3339(),
        reviewed_by: None,
        reviewed_at: None,
    }
}

/// Whether an item under this screening is shown to a viewer: a hidden one only to its
/// author and the moderators. Pure.
pub fn shown_to(screening: Option<&Screening>, author: bool, moderator: bool) -> bool {
    author || moderator || screening.is_none_or(|s| s.status == ScreeningStatus::Clean)
}

/// The API's ids of a screened item, from its table keys (`None`: not a screened key).
/// Pure.
pub fn content_ref(subject: &Subject, categories: &[Category]) -> Option<ContentRef> {
    let (prefix, id) = subject.pk.split_once('#')?;
    let id = Some(id.to_owned());
    let child = |marker: &str| subject.sk.strip_prefix(marker).map(str::to_owned);
    let mut content = ContentRef {
        kind: ContentKind::Topic,
        topic_id: None,
        reply_id: None,
        room_id: None,
        message_id: None,
        activity_id: None,
        comment_id: None,
        community_id: None,
        user_id: None,
        categories: categories.to_vec(),
        reported: false,
    };
    match (prefix, subject.sk.as_str()) {
        ("TOPIC", "META") => content.topic_id = id,
        ("TOPIC", _) => {
            content.kind = ContentKind::Reply;
            content.topic_id = id;
            content.reply_id = Some(child("REPLY#")?);
        }
        ("ROOM", "META") => {
            content.kind = ContentKind::Room;
            content.room_id = id;
        }
        ("ROOM", _) => {
            content.kind = ContentKind::Message;
            content.room_id = id;
            content.message_id = Some(child("MSG#")?);
        }
        ("ACT", "META") => {
            content.kind = ContentKind::Activity;
            content.activity_id = id;
        }
        ("ACT", _) => {
            content.kind = ContentKind::Comment;
            content.activity_id = id;
            content.comment_id = Some(child("COMMENT#")?);
        }
        ("COMMUNITY", "META") => {
            content.kind = ContentKind::Community;
            content.community_id = id;
        }
        ("USER", "PROFILE") => {
            content.kind = ContentKind::Profile;
            content.user_id = Some(UserId::parse(id.as_deref()?).ok()?);
        }
        _ => return None,
    }
    Some(content)
}

/// The API's ids of a review item's item, with why it was hidden. Pure.
pub fn content_of(review: &ReviewItem) -> Option<ContentRef> {
    let mut content = content_ref(&review.subject, &review.screening.categories)?;
    content.reported = review.screening.status == ScreeningStatus::Reported;
    Some(content)
}

/// The id a review item is known by: its item's keys, base64url.
pub fn review_id(subject: &Subject) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}|{}", subject.pk, subject.sk))
}

/// The item keys a review id names, if it names a screened item. Pure.
pub fn parse_review_id(id: &str) -> Option<(String, String)> {
    use base64::Engine;
    if id.len() > 400 {
        return None;
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (pk, sk) = raw.split_once('|')?;
    let subject = Subject {
        entity: String::new(),
        pk: pk.to_owned(),
        sk: sk.to_owned(),
    };
    content_ref(&subject, &[])?;
    Some((subject.pk, subject.sk))
}

/// Whether a change of screening hid an item that was shown. Pure.
pub fn became_hidden(old: Option<&Screening>, new: Option<&Screening>) -> bool {
    is_hidden(new) && !is_hidden(old)
}

/// Whether an item under this screening is hidden from everyone but its author and
/// the moderators. Pure.
pub fn is_hidden(screening: Option<&Screening>) -> bool {
    !shown_to(screening, false, false)
}

/// What an account's standing restricts now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    None,
    /// No posting.
    Muted,
    /// No writes, and no reads beyond one's own data.
    Suspended,
}

/// The restriction `standing` puts on its account at `now` (RFC 3339, as
/// [`now_rfc3339`] writes it): a ban, or a suspension not over yet, suspends; a mute not
/// over yet mutes. Pure.
pub fn restriction_of(standing: Option<&AccountStanding>, now: &str) -> Restriction {
    let Some(standing) = standing else {
        return Restriction::None;
    };
    let running = |until: &Option<String>| until.as_deref().is_some_and(|until| until > now);
    if standing.banned || running(&standing.suspended_until) {
        Restriction::Suspended
    } else if running(&standing.muted_until) {
        Restriction::Muted
    } else {
        Restriction::None
    }
}

/// The endpoint groups whose writes are posting (refused while muted).
pub const POSTING_GROUPS: &[&str] = &[
    "discussions",
    "feed",
    "chat",
    "communities",
    "events",
    "courses",
];

/// Whether an account under `standing` may make this HTTP request: `write` (POST, PUT,
/// PATCH or DELETE) `method` on `path` in endpoint group `group`. A muted account may
/// not write to the posting groups; a suspended or banned one may only read its own
/// data (`/v1/me…`, `/v1/notifications…`), export it (`POST /v1/me/exports`),
/// appeal (`POST /v1/appeals`) and delete its account (`DELETE /v1/me`). Refusals are 403s saying until when, and why.
/// Pure.
pub fn judge_request(
    standing: Option<&AccountStanding>,
    now: &str,
    method: &str,
    path: &str,
    group: &str,
) -> AppResult<()> {
    let write = matches!(method, "POST" | "PUT" | "PATCH" | "DELETE");
    let why = || {
        standing
            .and_then(|s| s.last_action.as_ref())
            .map(|last| format!(": {}", last.reason))
            .unwrap_or_default()
    };
    match restriction_of(standing, now) {
        Restriction::None => Ok(()),
        Restriction::Muted if write && POSTING_GROUPS.contains(&group) => {
            let until = standing
                .and_then(|s| s.muted_until.clone())
                .unwrap_or_default();
            Err(AppError::Forbidden(format!(
                "your account is muted until {until}{}",
                why()
            )))
        }
        Restriction::Muted => Ok(()),
        Restriction::Suspended => {
            let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
            let allowed = match method {
                "DELETE" => path == "/v1/me",
                "POST" => path == "/v1/me/exports" || path == "/v1/appeals",
                _ if write => false,
                _ => under("/v1/me") || under("/v1/notifications"),
            };
            if allowed {
                return Ok(());
            }
            let state = match standing {
                Some(AccountStanding {
                    banned: false,
                    suspended_until: Some(until),
                    ..
                }) => format!("suspended until {until}"),
                _ => "banned".to_owned(),
            };
            Err(AppError::Forbidden(format!(
                "your account is {state}{}; you may still read, export and delete your own data, and appeal",
                why()
            )))
        }
    }
}

/// Whether an account under `standing` may take WebSocket `action` at `now`: a
/// suspended or banned account nothing but `ping` (its sockets are closed when it is
/// suspended, and it cannot connect again); a muted one may not send or edit
/// messages. Pure.
pub fn judge_action(standing: Option<&AccountStanding>, now: &str, action: &str) -> AppResult<()> {
    match restriction_of(standing, now) {
        Restriction::Suspended if action != "ping" => {
            Err(AppError::Forbidden("your account is suspended".into()))
        }
        Restriction::Muted if matches!(action, "sendMessage" | "editMessage") => Err(
            AppError::Forbidden("your account is muted: you may not post".into()),
        ),
        _ => Ok(()),
    }
}

/// A transaction's condition on an account's standing item that it may post at `now`
/// (what [`restriction_of`] says as a condition expression): there is no standing, or
/// it is not banned and neither its mute nor its suspension runs past `now`.
pub fn free_to_post(now: &str) -> Expr {
    Expr::new(
        "attribute_not_exists(PK) OR (banned = :no \
         AND (attribute_not_exists(mutedUntil) OR mutedUntil <= :now) \
         AND (attribute_not_exists(suspendedUntil) OR suspendedUntil <= :now))",
    )
    .value(":no", AttributeValue::Bool(false))
    .value(":now", AttributeValue::S(now.to_owned()))
}

/// The standing after `action` by `moderator` at `now`: warnings count up, a mute or
/// suspension runs `hours` from now, a ban has no end, reinstating lifts them all.
/// `hours` is required for a mute or suspension and refused for the others (a 400
/// naming it). Pure.
pub fn sanctioned(
    standing: Option<AccountStanding>,
    user: &UserId,
    moderator: &UserId,
    input: &NewSanction,
    now: time::OffsetDateTime,
) -> AppResult<AccountStanding> {
    let timed = matches!(input.action, SanctionAction::Mute | SanctionAction::Suspend);
    let until = match (timed, input.hours) {
        (true, Some(hours)) => Some(crate::core::ids::format_rfc3339(
            now + time::Duration::hours(i64::from(hours)),
        )),
        (true, None) => {
            return Err(AppError::bad_field(
                "hours",
                "is required to mute or suspend",
            ));
        }
        (false, Some(_)) => {
            return Err(AppError::bad_field("hours", "is only for mute and suspend"));
        }
        (false, None) => None,
    };
    let mut next = standing.unwrap_or_else(|| AccountStanding::clean(user.clone()));
    match input.action {
        SanctionAction::Warn => next.warnings += 1,
        SanctionAction::Mute => next.muted_until = until.clone(),
        SanctionAction::Suspend => next.suspended_until = until.clone(),
        SanctionAction::Ban => next.banned = true,
        SanctionAction::Reinstate => {
            next.muted_until = None;
            next.suspended_until = None;
            next.banned = false;
        }
    }
    next.last_action = Some(SanctionRecord {
        action: input.action,
        reason: input.reason.trim().to_owned(),
        by: moderator.clone(),
        at: crate::core::ids::format_rfc3339(now),
        until,
    });
    next.version += 1;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_profile_text_is_clean() {
        let verdict = check_text(["I teach Rust and love hiking", "Data engineer", "Lisbon"]);
        assert_eq!(verdict, Verdict::Clean);
    }

    #[test]
    fn abusive_text_is_flagged() {
        assert_eq!(
            check_text(["hello", "you are a f u c k i n g idiot"]),
            Verdict::Flagged
        );
    }

    fn verdict(text: &str) -> Classification {
        classify(text, &TextContext::with_threshold(DEFAULT_THRESHOLD))
    }

    #[test]
    fn every_written_pattern_compiles() {
        assert_eq!(PATTERNS.compiled, PATTERNS.written);
    }

    #[test]
    fn clean_text_that_looks_risky_is_allowed() {
        for text in [
            "I killed it at my exam",
            "Returns are never guaranteed",
            "Call me tomorrow, my number changed",
            "I bought some bitcoin last year",
            "Meeting on 2026-12-03 at 18:30 in room 301",
        ] {
            let verdict = verdict(text);
            assert_eq!(verdict.decision, Decision::Allow, "{text}: {verdict:?}");
        }
    }

    #[test]
    fn card_numbers_and_ibans_count_only_when_their_checksums_hold() {
        let card = verdict("my card 4111 1111 1111 1111 please");
        let not_a_card = verdict("order 4111 1111 1111 1112 shipped");
        let iban = verdict("wire to DE89 3704 0044 0532 0130 00 please");
        let not_an_iban = verdict("ref DE89 3704 0044 0532 0130 01 ok");

        assert_eq!(card.confidence_of(Category::Pii), 0.97);
        assert_eq!(card.decision, Decision::Hide);
        assert!(not_a_card.confidence_of(Category::Pii) < DEFAULT_THRESHOLD);
        assert_eq!(iban.confidence_of(Category::Pii), 0.97, "{iban:?}");
        let signals = |v: &Classification| -> Vec<String> {
            v.categories
                .iter()
                .flat_map(|c| c.signals.clone())
                .collect()
        };
        assert!(signals(&iban).contains(&"an IBAN".to_owned()));
        assert!(
            !signals(&not_an_iban).contains(&"an IBAN".to_owned()),
            "a broken checksum is no IBAN (its digits may still read as a phone number)"
        );
        assert!(luhn_valid(&[
            4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2
        ]));
        assert!(!luhn_valid(&[0; 16]), "one digit repeated is no card");
    }

    #[test]
    fn a_verdict_names_its_categories_most_confident_first_and_hides_at_the_threshold() {
        let text = "Guaranteed 20% monthly returns, email me at a.b@example.com";

        let strict = verdict(text);
        let lenient = classify(text, &TextContext::with_threshold(0.99));

        assert_eq!(strict.decision, Decision::Hide);
        assert_eq!(strict.categories[0].category, Category::Pii);
        assert_eq!(strict.categories[1].category, Category::Scam);
        assert!(
            strict.categories[0]
                .signals
                .iter()
                .all(|s| !s.contains("a.b@example.com")),
            "the signals never repeat the personal data"
        );
        assert_eq!(lenient.decision, Decision::Allow);
        assert_eq!(lenient.confidence, strict.confidence);
    }

    #[test]
    fn restricted_words_match_whole_and_in_any_case_and_bursts_are_spam() {
        let context = TextContext {
            threshold: DEFAULT_THRESHOLD,
            restricted: vec!["MegaCoin".into(), " ".into()],
            recent_posts: 0,
        };
        let bursting = TextContext {
            recent_posts: 6,
            ..TextContext::with_threshold(DEFAULT_THRESHOLD)
        };

        assert_eq!(
            classify("is megacoin legit?", &context).confidence_of(Category::RestrictedKeyword),
            1.0
        );
        assert_eq!(
            classify("megacoins are different", &context).decision,
            Decision::Allow,
            "a whole word only"
        );
        assert_eq!(classify("Thanks!", &bursting).decision, Decision::Hide);
    }

    #[test]
    fn restricted_words_that_start_or_end_with_a_symbol_match_whole_too() {
        let context = TextContext {
            threshold: DEFAULT_THRESHOLD,
            restricted: vec!["$SCAM".into(), "c++".into(), "double your money".into()],
            recent_posts: 0,
        };
        let hit = |text: &str| classify(text, &context).decision == Decision::Hide;

        assert!(hit("buy $scam now"));
        assert!(hit("I teach C++."));
        assert!(hit("Double  your\nmoney?"));
        assert!(!hit("buy $scams now"));
        assert!(!hit("abc++ is not a language"));
    }

    #[test]
    fn a_restricted_words_list_is_trimmed_kept_once_in_any_case_and_bounded() {
        let parse = |words: Vec<&str>| {
            NewRestrictedWords {
                words: words.into_iter().map(str::to_owned).collect(),
            }
            .parse()
        };
        let field_of = |error: AppError| match error {
            AppError::Validation(fields) => fields[0].field.clone(),
            other => format!("{other:?}"),
        };

        assert_eq!(
            parse(vec!["  MegaCoin ", "megacoin", "double   your\tmoney"]).unwrap(),
            vec!["MegaCoin".to_owned(), "double your money".to_owned()]
        );
        assert_eq!(parse(vec![]).unwrap(), Vec::<String>::new());
        assert_eq!(field_of(parse(vec!["ok", "  "]).unwrap_err()), "words[1]");
        assert_eq!(
            field_of(parse(vec![&"x".repeat(65)]).unwrap_err()),
            "words[0]"
        );
        assert_eq!(field_of(parse(vec!["a\u{7}b"]).unwrap_err()), "words[0]");
        assert_eq!(field_of(parse(vec!["w"; 201]).unwrap_err()), "words");
        assert!(parse(vec!["w"; 200]).is_ok());
    }

    #[test]
    fn ids_and_codes_in_a_text_are_not_read_as_words() {
        let context = TextContext::with_threshold(DEFAULT_THRESHOLD);
        // Each of these ULIDs made rustrict find a profane word.
        for id in [
            "01M8FA5AW30KQR86G4KKJW7BSC",
            "01M8FA5AW6K14ETHAJAG9WA4WV",
            "01M8FA5AWKKSDSQV6AZVW6CEKJ",
            "01M8FA5AWK77YXDDG8P53NJXT8",
        ] {
            let name = format!("public circle {id}");

            assert_eq!(
                classify(&name, &context).decision,
                Decision::Allow,
                "{name}"
            );
        }
        let flagged = (0..2000)
            .filter(|_| {
                let name = format!("circle {}", ulid::Ulid::new());
                classify(&name, &context).decision == Decision::Hide
            })
            .count();
        assert_eq!(flagged, 0, "random ids are not obscene");
    }

    #[test]
    fn bursts_are_counted_per_utc_minute() {
        let at = time::macros::datetime!(2026-11-27 19:04:59 +01:00);

        assert_eq!(burst_minute(at), "2026-11-27T18:04");
    }

    #[test]
    fn a_moderation_job_has_a_stable_wire_form() {
        let job = ModerationJob::ModerateProfile {
            user_id: UserId::parse("u1").unwrap(),
            version: 3,
        };

        let json = serde_json::to_value(&job).unwrap();

        assert_eq!(
            json,
            serde_json::json!({"kind": "moderateProfile", "userId": "u1", "version": 3})
        );
    }

    const TOPIC: Screened = Screened {
        entity: "Topic",
        text: &["title", "body"],
        author: &["authorId"],
        community: CommunityOf::Own("communityId"),
        posts: true,
    };

    fn item(title: &str, body: &str) -> Item {
        let mut item = Item::default();
        item.insert("title".into(), AttributeValue::S(title.into()));
        item.insert("body".into(), AttributeValue::S(body.into()));
        item.insert("views".into(), AttributeValue::N("1".into()));
        item
    }

    #[test]
    fn a_new_text_or_a_changed_one_needs_screening_and_a_counter_change_does_not() {
        let first = item("Budgeting", "How do you budget?");
        let mut counted = first.clone();
        counted.insert("views".into(), AttributeValue::N("2".into()));
        let edited = item("Budgeting", "How do you budget monthly?");
        let wiped = item("", "");

        let created = screening_needed(None, Some(&first), &TOPIC);
        let counted = screening_needed(Some(&first), Some(&counted), &TOPIC);
        let changed = screening_needed(Some(&first), Some(&edited), &TOPIC);
        let deleted = screening_needed(Some(&first), Some(&wiped), &TOPIC);
        let removed = screening_needed(Some(&first), None, &TOPIC);

        assert_eq!(created, Some(digest_of(&text_of(&first, &TOPIC))));
        assert_eq!(counted, None);
        assert_eq!(changed, Some(digest_of(&text_of(&edited, &TOPIC))));
        assert_ne!(created, changed);
        assert_eq!(deleted, None);
        assert_eq!(removed, None);
    }

    #[test]
    fn every_screened_key_names_its_item_in_the_apis_ids() {
        let subject = |pk: &str, sk: &str| Subject {
            entity: String::new(),
            pk: pk.into(),
            sk: sk.into(),
        };
        let of = |pk, sk| content_ref(&subject(pk, sk), &[Category::Spam]);

        let reply = of("TOPIC#t1", "REPLY#r1-r2").unwrap();
        let message = of("ROOM#r1", "MSG#m1").unwrap();
        let comment = of("ACT#a1", "COMMENT#c1").unwrap();

        assert_eq!(of("TOPIC#t1", "META").unwrap().kind, ContentKind::Topic);
        assert_eq!(
            (
                reply.kind,
                reply.topic_id.as_deref(),
                reply.reply_id.as_deref()
            ),
            (ContentKind::Reply, Some("t1"), Some("r1-r2"))
        );
        assert_eq!(
            (message.kind, message.message_id.as_deref()),
            (ContentKind::Message, Some("m1"))
        );
        assert_eq!(of("ROOM#r1", "META").unwrap().kind, ContentKind::Room);
        assert_eq!(of("ACT#a1", "META").unwrap().kind, ContentKind::Activity);
        assert_eq!(comment.comment_id.as_deref(), Some("c1"));
        assert_eq!(
            of("COMMUNITY#c1", "META").unwrap().kind,
            ContentKind::Community
        );
        assert_eq!(reply.categories, vec![Category::Spam]);
        let profile = of("USER#u1", "PROFILE").unwrap();
        assert_eq!(
            (profile.kind, profile.user_id.map(|u| u.to_string())),
            (ContentKind::Profile, Some("u1".to_owned()))
        );
        assert_eq!(of("USER#u1", "STANDING"), None);
        assert_eq!(of("ROOM#r1", "CMID#x"), None);
    }

    #[test]
    fn a_reported_contents_keys_name_it_back() {
        let reported = [
            ReportedContent::Topic {
                topic_id: "t1".into(),
            },
            ReportedContent::Reply {
                topic_id: "t1".into(),
                reply_id: "r1-r2".into(),
            },
            ReportedContent::Message {
                room_id: "m".into(),
                message_id: "x".into(),
            },
            ReportedContent::Room {
                room_id: "m".into(),
            },
            ReportedContent::Activity {
                activity_id: "a".into(),
            },
            ReportedContent::Comment {
                activity_id: "a".into(),
                comment_id: "c".into(),
            },
            ReportedContent::Community {
                community_id: "c".into(),
            },
            ReportedContent::Profile {
                user_id: "u1".into(),
            },
        ];

        for content in reported {
            let (pk, sk) = content.keys();
            let subject = Subject {
                entity: String::new(),
                pk,
                sk,
            };
            assert!(content_ref(&subject, &[]).is_some(), "{content:?}");
        }
    }

    #[test]
    fn moving_text_between_fields_changes_the_digest() {
        let a = item("ab", "c");
        let b = item("a", "bc");

        assert_ne!(
            digest_of(&text_of(&a, &TOPIC)),
            digest_of(&text_of(&b, &TOPIC))
        );
    }

    #[test]
    fn a_hidden_item_is_shown_to_its_author_and_moderators_only() {
        let hidden = screening_of(
            &[(
                "body",
                "Guaranteed returns of 20% a week, send your deposit now".into(),
            )],
            &ModerationConfig {
                enabled: true,
                threshold: DEFAULT_THRESHOLD,
            },
            TextContext::default(),
        );
        let off = screening_of(
            &[(
                "body",
                "Guaranteed returns of 20% a week, send your deposit now".into(),
            )],
            &ModerationConfig {
                enabled: false,
                threshold: DEFAULT_THRESHOLD,
            },
            TextContext::default(),
        );

        assert_eq!(hidden.status, ScreeningStatus::Hidden);
        assert!(hidden.categories.contains(&Category::Scam), "{hidden:?}");
        assert!(!shown_to(Some(&hidden), false, false));
        assert!(shown_to(Some(&hidden), true, false));
        assert!(shown_to(Some(&hidden), false, true));
        assert!(shown_to(None, false, false), "not yet checked: shown");
        assert_eq!(off.status, ScreeningStatus::Clean);
        assert!(shown_to(Some(&off), false, false));
    }

    fn standing(muted: Option<&str>, suspended: Option<&str>, banned: bool) -> AccountStanding {
        AccountStanding {
            user_id: UserId::parse("u1").unwrap(),
            muted_until: muted.map(str::to_owned),
            suspended_until: suspended.map(str::to_owned),
            banned,
            warnings: 0,
            last_action: None,
            version: 1,
        }
    }

    const NOW: &str = "2026-11-27T12:00:00.000Z";
    const LATER: &str = "2026-11-28T12:00:00.000Z";
    const EARLIER: &str = "2026-11-26T12:00:00.000Z";

    #[test]
    fn a_muted_account_may_read_and_write_anything_but_posts() {
        let muted = standing(Some(LATER), None, false);

        let judge = |method, path, group| judge_request(Some(&muted), NOW, method, path, group);

        assert!(judge("POST", "/v1/topics", "discussions").is_err());
        assert!(judge("POST", "/v1/rooms", "chat").is_err());
        assert!(judge("GET", "/v1/topics", "discussions").is_ok());
        assert!(judge("PATCH", "/v1/me", "profiles").is_ok());
        assert!(judge("PUT", "/v1/mutes/u2", "connections").is_ok());
    }

    #[test]
    fn a_suspended_or_banned_account_may_only_read_export_and_delete_its_own_data() {
        for refused in [
            standing(None, Some(LATER), false),
            standing(None, None, true),
        ] {
            let judge =
                |method, path, group| judge_request(Some(&refused), NOW, method, path, group);

            assert!(judge("GET", "/v1/me", "profiles").is_ok());
            assert!(judge("GET", "/v1/me/communities", "communities").is_ok());
            assert!(judge("GET", "/v1/notifications", "notifications").is_ok());
            assert!(judge("POST", "/v1/me/exports", "profiles").is_ok());
            assert!(judge("POST", "/v1/appeals", "moderation").is_ok());
            assert!(judge("DELETE", "/v1/me", "profiles").is_ok());
            assert!(judge("PATCH", "/v1/me", "profiles").is_err());
            assert!(judge("GET", "/v1/topics", "discussions").is_err());
            assert!(judge("GET", "/v1/medals", "profiles").is_err());
            assert!(judge("POST", "/v1/reports", "moderation").is_err());
        }
    }

    #[test]
    fn a_muted_account_may_not_send_over_its_socket_and_a_suspended_one_may_only_ping() {
        let muted = standing(Some(LATER), None, false);
        let suspended = standing(None, Some(LATER), false);

        assert!(judge_action(Some(&muted), NOW, "sendMessage").is_err());
        assert!(judge_action(Some(&muted), NOW, "editMessage").is_err());
        assert!(judge_action(Some(&muted), NOW, "typing").is_ok());
        assert!(judge_action(Some(&suspended), NOW, "markRead").is_err());
        assert!(judge_action(Some(&suspended), NOW, "ping").is_ok());
        assert!(judge_action(None, NOW, "sendMessage").is_ok());
    }

    #[test]
    fn a_sanction_that_ran_out_restricts_nothing() {
        let over = standing(Some(EARLIER), Some(EARLIER), false);

        assert_eq!(restriction_of(Some(&over), NOW), Restriction::None);
        assert_eq!(restriction_of(None, NOW), Restriction::None);
        assert!(judge_request(Some(&over), NOW, "POST", "/v1/topics", "discussions").is_ok());
    }

    #[test]
    fn sanctions_need_hours_exactly_when_they_run_for_a_time_and_reinstating_lifts_them_all() {
        let user = UserId::parse("u1").unwrap();
        let modo = UserId::parse("modo").unwrap();
        let now = time::macros::datetime!(2026-11-27 12:00 UTC);
        let act = |standing, action, hours| {
            sanctioned(
                standing,
                &user,
                &modo,
                &NewSanction {
                    action,
                    reason: " Spam ".into(),
                    hours,
                },
                now,
            )
        };

        let muted = act(None, SanctionAction::Mute, Some(24)).unwrap();
        let banned = act(Some(muted.clone()), SanctionAction::Ban, None).unwrap();
        let warned = act(Some(banned.clone()), SanctionAction::Warn, None).unwrap();
        let reinstated = act(Some(warned.clone()), SanctionAction::Reinstate, None).unwrap();

        assert_eq!(
            muted.muted_until.as_deref(),
            Some("2026-11-28T12:00:00.000Z")
        );
        assert_eq!(
            muted.last_action.as_ref().map(|a| a.reason.as_str()),
            Some("Spam")
        );
        assert!(banned.banned);
        assert_eq!(warned.warnings, 1);
        assert_eq!(restriction_of(Some(&warned), NOW), Restriction::Suspended);
        assert_eq!(restriction_of(Some(&reinstated), NOW), Restriction::None);
        assert_eq!(reinstated.warnings, 1, "warnings stay on record");
        assert_eq!(reinstated.version, 4);
        assert!(act(None, SanctionAction::Suspend, None).is_err());
        assert!(act(None, SanctionAction::Warn, Some(1)).is_err());
    }
}
