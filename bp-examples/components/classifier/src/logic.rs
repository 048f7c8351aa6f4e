//! The classifier's decision logic: plain Rust, no WIT types, so that it can be
//! unit-tested on the build machine and measured natively against the component
//! (`tests/benches/throughput.rs` includes this file with `#[path]`).
//!
//! [`Config::from_table`] validates the `config` table `init` receives,
//! [`classify`] gives an e-mail's category and language, and [`decide`] makes
//! the whole choice for one interaction, queue included. `lib.rs` adapts it to
//! the `ixn:bp` world: it reads the attached data, logs, and turns a [`Choice`]
//! into a `decision`.

// ---------------------------------------------------------------------------------
// Decision
// ---------------------------------------------------------------------------------

/// What the classifier decided for one interaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Choice<'c> {
    /// Not an e-mail: it moves to `queue` (the `else-queue`), unchanged.
    NotEmail {
        /// The `else-queue`.
        queue: &'c str,
    },
    /// An e-mail: it gets `Category` and `Language` and moves to the queue of its
    /// category.
    Email {
        /// Its category.
        category: Category,
        /// Its language.
        language: Language,
        /// `queue.<category>`.
        queue: &'c str,
    },
}

/// The decision for an interaction of `media_type` with this `Subject` and
/// `Body`: only e-mails (`email`, any case) are classified, everything else goes
/// to the else-queue as is.
pub fn decide<'c>(config: &'c Config, media_type: &str, subject: &str, body: &str) -> Choice<'c> {
    if !media_type.eq_ignore_ascii_case("email") {
        return Choice::NotEmail {
            queue: config.else_queue(),
        };
    }
    let (category, language) = classify(subject, body);
    Choice::Email {
        category,
        language,
        queue: config.queue_for(category),
    }
}

/// The category and the language of an e-mail.
pub fn classify(subject: &str, body: &str) -> (Category, Language) {
    let text = normalise(subject, body);
    (category_of(&text), detect_language(&text))
}

/// Subject and body as one lower-case text. `ё` is folded into `е`, as Russian
/// writers often do themselves, so that one keyword matches both spellings.
fn normalise(subject: &str, body: &str) -> String {
    let mut text = String::with_capacity(subject.len() + body.len() + 1);
    text.push_str(subject);
    text.push('\n');
    text.push_str(body);
    text.to_lowercase().replace('ё', "е")
}

// ---------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------

/// The component's configuration, from the `config` table `init` receives.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Config {
    /// `queue.general`: required.
    pub general_queue: String,
    /// `queue.billing`, `queue.technical`, `queue.sales`: those that are set.
    pub category_queues: Vec<(Category, String)>,
    /// `else-queue`, if set.
    pub else_queue: Option<String>,
}

impl Config {
    /// Validates the `config` table that `init` receives. Unknown keys are ignored,
    /// so one table can also carry settings for other versions of this component.
    pub fn from_table(table: Vec<(String, String)>) -> Result<Config, String> {
        let mut general_queue = None;
        let mut category_queues = Vec::new();
        let mut else_queue = None;

        for (key, value) in table {
            let value = value.trim().to_string();
            if value.is_empty() {
                return Err(format!("config key {key:?} is empty"));
            }
            match key.as_str() {
                "queue.general" => general_queue = Some(value),
                "else-queue" => else_queue = Some(value),
                _ => {
                    let category = key
                        .strip_prefix("queue.")
                        .and_then(Category::from_name)
                        .filter(|c| !matches!(c, Category::General));
                    if let Some(category) = category {
                        category_queues.push((category, value));
                    }
                }
            }
        }

        Ok(Config {
            general_queue: general_queue.ok_or("config key \"queue.general\" is missing")?,
            category_queues,
            else_queue,
        })
    }

    /// `queue.<category>`, or `queue.general` when that key is not set.
    pub fn queue_for(&self, category: Category) -> &str {
        self.category_queues
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(&self.general_queue, |(_, queue)| queue)
    }

    /// `else-queue`, or `queue.general` when that key is not set.
    pub fn else_queue(&self) -> &str {
        self.else_queue.as_deref().unwrap_or(&self.general_queue)
    }
}

// ---------------------------------------------------------------------------------
// Category
// ---------------------------------------------------------------------------------

/// The category of an e-mail; each has its own queue.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Category {
    /// Invoices, payments, refunds.
    Billing,
    /// Errors, outages, logins.
    Technical,
    /// Quotes, prices, licences.
    Sales,
    /// Everything else.
    General,
}

impl Category {
    /// The value of the `Category` attached data.
    pub fn name(self) -> &'static str {
        match self {
            Category::Billing => "billing",
            Category::Technical => "technical",
            Category::Sales => "sales",
            Category::General => "general",
        }
    }

    /// The category called `name` (as in `queue.<name>`).
    pub fn from_name(name: &str) -> Option<Category> {
        match name {
            "billing" => Some(Category::Billing),
            "technical" => Some(Category::Technical),
            "sales" => Some(Category::Sales),
            "general" => Some(Category::General),
            _ => None,
        }
    }
}

/// Keywords per category, lower case, in English, German, French, Spanish,
/// Russian, Japanese and Arabic.
///
/// A keyword in a script that separates words with spaces (Latin, Cyrillic) must
/// start a word but may be followed by anything, so `invoice` also finds
/// `invoices` and `счет` finds `счета`. Japanese and Arabic keywords match
/// anywhere: Japanese has no spaces, and Arabic glues articles and prepositions to
/// the word (`الفاتورة` is "the invoice").
///
/// The order of the rules breaks ties: billing before technical before sales.
#[rustfmt::skip] // one line per language reads better than one per word
const RULES: &[(Category, &[&str])] = &[
    (
        Category::Billing,
        &[
            // English
            "invoice", "bill", "payment", "refund", "charge", "overcharged",
            "receipt", "credit card",
            // German
            "rechnung", "abrechnung", "zahlung", "rückerstattung", "erstattung", "abbuchung",
            "lastschrift", "mahnung", "gutschrift",
            // French
            "facture", "paiement", "remboursement", "prélèvement", "prelevement",
            // Spanish
            "factura", "pago", "reembolso", "cobro",
            // Russian (ё already folded into е)
            "счет", "оплат", "платеж", "возврат", "квитанц", "списан",
            // Japanese
            "請求", "支払", "返金", "料金", "領収書", "引き落とし",
            // Arabic
            "فاتورة", "فواتير", "دفع", "استرداد", "رسوم",
        ],
    ),
    (
        Category::Technical,
        &[
            // English
            "error", "bug", "crash", "not working", "doesn't work", "does not work",
            "login", "log in", "password", "outage", "broken", "timeout", "failed",
            // German
            "fehler", "absturz", "stürzt", "funktioniert nicht", "anmeldung", "passwort",
            "kennwort", "störung",
            // French
            "erreur", "panne", "bogue", "plantage", "ne fonctionne pas", "ne marche pas",
            "mot de passe", "connexion",
            // Spanish
            "fallo", "no funciona", "contraseña", "avería", "averia", "iniciar sesión",
            // Russian
            "ошибк", "сбой", "не работает", "парол", "не могу войти", "авари",
            // Japanese
            "エラー", "不具合", "障害", "ログイン", "パスワード", "動かない", "接続できない",
            // Arabic
            "خطأ", "عطل", "لا يعمل", "كلمة المرور", "تسجيل الدخول",
        ],
    ),
    (
        Category::Sales,
        &[
            // English
            "quote", "quotation", "pricing", "price", "purchase", "buy", "place an order",
            "demo", "discount", "upgrade", "license", "licence",
            // German
            "angebot", "preis", "kaufen", "bestell", "rabatt", "lizenz",
            // French
            "devis", "tarif", "prix", "acheter", "achat", "commande", "remise",
            // Spanish
            "presupuesto", "cotización", "cotizacion", "precio", "compra",
            "pedido", "descuento", "licencia",
            // Russian
            "цена", "цены", "стоимост", "прайс", "купить", "покупк", "заказ", "скидк",
            "коммерческое предложение", "лиценз",
            // Japanese
            "見積", "価格", "購入", "注文", "割引", "ライセンス", "デモ",
            // Arabic
            "سعر", "أسعار", "شراء", "خصم", "ترخيص",
        ],
    ),
];

/// The category whose keywords occur most often in `text` (each keyword counted
/// once), or `general` when none occurs. `text` is [`normalise`]d.
fn category_of(text: &str) -> Category {
    let mut best = (Category::General, 0);
    for &(category, keywords) in RULES {
        let score = keywords
            .iter()
            .filter(|keyword| contains_keyword(text, keyword))
            .count();
        // Strictly greater: on a tie the earlier rule wins.
        if score > best.1 {
            best = (category, score);
        }
    }
    best.0
}

/// Whether `keyword` occurs in `text`; see [`RULES`] for when it must start a word.
fn contains_keyword(text: &str, keyword: &str) -> bool {
    let starts_in_spaced_script = keyword
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() && c < '\u{0590}'); // Latin, Greek, Cyrillic
    if !starts_in_spaced_script {
        return text.contains(keyword);
    }
    text.match_indices(keyword).any(|(at, _)| {
        text[..at]
            .chars()
            .next_back()
            .is_none_or(|before| !before.is_alphanumeric())
    })
}

// ---------------------------------------------------------------------------------
// Language
// ---------------------------------------------------------------------------------

/// The language of an e-mail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Language {
    /// English, also the default.
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
    /// Russian.
    Ru,
    /// Japanese.
    Ja,
    /// Arabic.
    Ar,
}

impl Language {
    /// Its ISO 639-1 code: the value of the `Language` attached data.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::Ru => "ru",
            Language::Ja => "ja",
            Language::Ar => "ar",
        }
    }
}

/// The language of `text` ([`normalise`]d).
///
/// First by script: the script most letters belong to wins, Cyrillic giving `ru`,
/// kana and kanji `ja` and Arabic `ar`. A kana or kanji character stands for a
/// syllable or a whole word, so it counts as three letters; otherwise a Japanese
/// mail quoting an English product name would pass for English. Text mostly in
/// Latin letters is told apart by its stop-words (`en`, `de`, `fr`, `es`); `en`
/// is the default.
fn detect_language(text: &str) -> Language {
    let (mut latin, mut cyrillic, mut japanese, mut arabic) = (0, 0, 0, 0);
    for c in text.chars() {
        match c {
            'a'..='z' | 'A'..='Z' => latin += 1,
            '\u{00C0}'..='\u{024F}' if c.is_alphabetic() => latin += 1,
            '\u{0400}'..='\u{04FF}' => cyrillic += 1,
            // Hiragana, katakana, CJK ideographs (extension A and the main block),
            // half-width katakana.
            '\u{3040}'..='\u{30FF}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{FF66}'..='\u{FF9F}' => japanese += 3,
            // Arabic, its supplements and presentation forms.
            '\u{0600}'..='\u{06FF}'
            | '\u{0750}'..='\u{077F}'
            | '\u{08A0}'..='\u{08FF}'
            | '\u{FB50}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}' => arabic += 1,
            _ => {}
        }
    }

    let scripts = [
        (Language::Ru, cyrillic),
        (Language::Ja, japanese),
        (Language::Ar, arabic),
    ];
    // Strictly greater: on a tie the earlier script wins. The initial `En` never
    // wins below: it has no letters, and `latin` is at least 0.
    let (mut language, mut letters) = (Language::En, 0);
    for (script_language, script_letters) in scripts {
        if script_letters > letters {
            (language, letters) = (script_language, script_letters);
        }
    }
    if letters > latin {
        return language;
    }
    detect_latin_language(text)
}

/// Frequent short words of each language written in Latin letters. Words shared by
/// two of them (`la`, `de`, `en`, `que`, `des`, `es`, `no`) are left out.
#[rustfmt::skip] // one line per language reads better than one per word
const STOP_WORDS: &[(Language, &[&str])] = &[
    (
        Language::En,
        &[
            "the", "and", "is", "are", "you", "your", "to", "of", "please", "with", "for", "my",
            "this", "that", "have", "not", "it", "we", "thanks",
        ],
    ),
    (
        Language::De,
        &[
            "der", "die", "das", "und", "ist", "nicht", "ich", "sie", "mit", "bitte", "für",
            "ein", "eine", "mein", "meine", "wir", "auf", "zu", "danke", "vielen",
        ],
    ),
    (
        Language::Fr,
        &[
            "le", "les", "et", "est", "je", "vous", "pas", "pour", "avec", "une", "mon", "ma",
            "merci", "bonjour", "nous", "sur", "du", "au",
        ],
    ),
    (
        Language::Es,
        &[
            "el", "los", "las", "y", "por", "con", "una", "mi", "gracias", "para", "hola",
            "del", "pero", "está", "muy", "su",
        ],
    ),
];

/// The language of [`STOP_WORDS`] whose words occur most often in `text`; `en`
/// when none does, and on a tie the earlier language.
fn detect_latin_language(text: &str) -> Language {
    let mut best = (Language::En, 0);
    for &(language, words) in STOP_WORDS {
        let score = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|token| words.contains(token))
            .count();
        if score > best.1 {
            best = (language, score);
        }
    }
    best.0
}

// The rules are plain functions, so they can be tested on the build machine:
//     cargo test --manifest-path bp-examples/components/Cargo.toml \
//         --target x86_64-unknown-linux-gnu -p classifier -p router
#[cfg(test)]
mod tests {
    use super::*;

    fn category(subject: &str, body: &str) -> &'static str {
        classify(subject, body).0.name()
    }

    fn language(subject: &str, body: &str) -> &'static str {
        classify(subject, body).1.code()
    }

    #[test]
    fn keywords_are_lower_case() {
        for (_, keywords) in RULES {
            for keyword in *keywords {
                assert_eq!(*keyword, keyword.to_lowercase(), "keyword {keyword:?}");
                assert!(!keyword.contains('ё'), "keyword {keyword:?} must use е");
            }
        }
    }

    #[test]
    fn no_keyword_counts_twice() {
        // A keyword that another of its category contains would score one word twice.
        for (category, keywords) in RULES {
            for a in *keywords {
                for b in *keywords {
                    assert!(
                        a == b || !contains_keyword(b, a),
                        "{category:?}: {a:?} also matches {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn categories_in_several_languages() {
        assert_eq!(category("Invoice #123 is wrong", ""), "billing");
        assert_eq!(category("Frage zur Rechnung", "Bitte prüfen"), "billing");
        assert_eq!(category("Votre facture", ""), "billing");
        assert_eq!(category("Problema con mi factura", ""), "billing");
        assert_eq!(category("Вопрос по счёту", ""), "billing");
        assert_eq!(category("請求書について", ""), "billing");
        assert_eq!(category("مشكلة في الفاتورة", ""), "billing");

        assert_eq!(
            category("App crash on start", "I get an error"),
            "technical"
        );
        assert_eq!(category("Fehler beim Login", ""), "technical");
        assert_eq!(category("Le site ne fonctionne pas", ""), "technical");
        assert_eq!(category("Приложение не работает", ""), "technical");
        assert_eq!(category("ログインできません", ""), "technical");

        assert_eq!(
            category("Request for a quote", "pricing for 50 seats"),
            "sales"
        );
        assert_eq!(category("Demande de devis", ""), "sales");
        assert_eq!(category("Хочу купить лицензию", ""), "sales");
        assert_eq!(category("見積もりのお願い", ""), "sales");

        assert_eq!(category("Hello", "Just saying thanks."), "general");
        assert_eq!(category("", ""), "general");
    }

    #[test]
    fn keywords_start_words() {
        // "bill" matches "billing" but not "rebill".
        assert!(!contains_keyword("please rebill", "bill"));
        assert!(contains_keyword("the billing team", "bill"));
        assert!(!contains_keyword("debugging", "bug"));
        assert!(contains_keyword("(bug) report", "bug"));
    }

    #[test]
    fn languages() {
        assert_eq!(
            language("Invoice", "Please send me the invoice for this month."),
            "en"
        );
        assert_eq!(
            language("Rechnung", "Ich habe die Rechnung nicht erhalten, bitte."),
            "de"
        );
        assert_eq!(
            language("Facture", "Je n'ai pas reçu ma facture, merci."),
            "fr"
        );
        assert_eq!(
            language("Factura", "Hola, no recibí mi factura, gracias."),
            "es"
        );
        assert_eq!(language("Счёт", "Здравствуйте, я не получил счёт."), "ru");
        assert_eq!(language("請求書", "請求書が届いていません。"), "ja");
        assert_eq!(language("Acme Cloud の請求書", ""), "ja");
        assert_eq!(language("فاتورة", "لم أستلم الفاتورة"), "ar");
        assert_eq!(language("", ""), "en");
        assert_eq!(language("12345", "!!!"), "en");
    }

    #[test]
    fn config() {
        let table = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(Config::from_table(table(&[("queue.billing", "b")])).is_err());

        let config = Config::from_table(table(&[
            ("queue.general", "g"),
            ("queue.billing", "b"),
            ("something-else", "x"),
        ]))
        .expect("valid config");
        assert_eq!(config.queue_for(Category::Billing), "b");
        assert_eq!(config.queue_for(Category::Sales), "g");
        assert_eq!(config.queue_for(Category::General), "g");
        assert_eq!(config.else_queue(), "g");
    }

    #[test]
    fn decisions() {
        let config = Config::from_table(vec![
            ("queue.general".to_string(), "g".to_string()),
            ("queue.billing".to_string(), "b".to_string()),
            ("else-queue".to_string(), "x".to_string()),
        ])
        .expect("valid config");
        assert_eq!(
            decide(&config, "chat", "Invoice", ""),
            Choice::NotEmail { queue: "x" }
        );
        assert_eq!(
            decide(&config, "EMail", "Rechnung", "Bitte prüfen, danke."),
            Choice::Email {
                category: Category::Billing,
                language: Language::De,
                queue: "b"
            }
        );
        assert_eq!(
            decide(&config, "email", "Login", "It is broken."),
            Choice::Email {
                category: Category::Technical,
                language: Language::En,
                queue: "g"
            }
        );
    }
}
