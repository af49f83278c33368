//! Money: ISO 4217 currencies with their minor units, validated request amounts, and fee rounding.
//!
//! Amounts are `rust_decimal::Decimal`, never floating point. On disk an amount is its normalised
//! mantissa (`i64`) and scale (`u8`), so `10.5` and `10.50` give the same bytes and the same hash.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::LedgerError;

/// Largest amount a single request may carry: 1e15 in the currency's major unit.
pub const AMOUNT_MAX: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// Largest fee in basis points a project or contribution may carry (50 %).
pub const FEE_BPS_MAX: u32 = 5_000;

/// Most minor units of any currency in the table (KWD, BHD, JOD, OMR, TND have 3).
pub const MINOR_UNITS_MAX: u32 = 3;

/// The currencies Fiscus knows: ISO 4217 alphabetic code and minor units, in code order.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("GHS", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PLN", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UGX", 0),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// An ISO 4217 currency from the built-in table. Only table entries can be constructed.
/// (Its position in the table, which is in code order, so ordering is by code.)
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    index: u8,
}

impl Currency {
    /// Looks a code up in the table (upper case, exactly three letters).
    pub fn from_code(code: &str) -> Option<Currency> {
        // (the table is in code order, and so is the big-endian number of a code's three bytes)
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        Self::from_bytes(bytes)
    }

    pub(crate) fn from_bytes(code: [u8; 3]) -> Option<Currency> {
        let key = |c: &[u8]| c.iter().fold(0u32, |k, b| k << 8 | u32::from(*b));
        let wanted = key(&code);
        let i = CURRENCIES.binary_search_by(|(c, _)| key(c.as_bytes()).cmp(&wanted)).ok()?;
        Some(Currency { index: u8::try_from(i).expect("the table has fewer than 256 entries") })
    }

    /// Parses a currency code for request field `field`.
    pub fn parse(field: &str, code: &str) -> Result<Currency, LedgerError> {
        Currency::from_code(code)
            .ok_or_else(|| LedgerError::invalid(field, format!("unknown currency code {}", crate::error::quoted(code))))
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        CURRENCIES[usize::from(self.index)].0
    }

    /// How many decimal places the currency's minor unit has (USD 2, JPY 0, KWD 3).
    pub fn minor_units(&self) -> u32 {
        u32::from(CURRENCIES[usize::from(self.index)].1)
    }

    /// Every currency of the table, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES.iter().map(|(c, _)| Currency::from_code(c).expect("table entry"))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let code: [u8; 3] = self.code().as_bytes().try_into().expect("codes have three letters");
        code.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <[u8; 3]>::deserialize(d)?;
        Currency::from_bytes(code).ok_or_else(|| serde::de::Error::custom("unknown currency code"))
    }
}

/// A validated request amount: positive, within the currency's minor units, at most [`AMOUNT_MAX`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "StoredMoney", into = "StoredMoney")]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Validates `amount` in `currency` for request field `field`; the amount is normalised.
    pub fn new(field: &str, amount: Decimal, currency: Currency) -> Result<Money, LedgerError> {
        if amount <= Decimal::ZERO {
            return Err(LedgerError::invalid(field, format!("amount must be positive, got {amount}")));
        }
        if amount > AMOUNT_MAX {
            return Err(LedgerError::invalid(field, format!("amount {amount} is over the limit of {AMOUNT_MAX}")));
        }
        let amount = amount.normalize();
        if amount.scale() > currency.minor_units() {
            return Err(LedgerError::invalid(
                field,
                format!(
                    "amount {amount} has {} decimal places; {currency} allows {}",
                    amount.scale(),
                    currency.minor_units()
                ),
            ));
        }
        Ok(Money { amount, currency })
    }

    /// Parses a decimal string such as `"1250.00"` ([`parse_amount`]) and a currency code for
    /// request field `field` (the code's path is `field.currency`).
    pub fn parse(field: &str, amount: &str, currency: &str) -> Result<Money, LedgerError> {
        let currency = Currency::parse(&format!("{field}.currency"), currency)?;
        let parsed = parse_amount(field, amount, Some(currency))?;
        Money::new(field, parsed, currency)
    }

    /// A stored amount, already normalised: `None` unless positive, within the limit and the
    /// currency's minor units. (Cheaper than [`Money::new`], which normalises.)
    pub fn from_normalised(amount: Decimal, currency: Currency) -> Option<Money> {
        let ok = amount > Decimal::ZERO && amount <= AMOUNT_MAX && amount.scale() <= currency.minor_units();
        ok.then_some(Money { amount, currency })
    }

    /// The amount, normalised (no trailing zeros).
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", format_amount(self.amount, self.currency), self.currency)
    }
}

/// Most digits before the point an amount's text may have: `Decimal` holds 28 (requests are
/// limited to [`AMOUNT_MAX`], 16 digits, later; answers may carry larger sums).
pub const AMOUNT_INTEGER_DIGITS_MAX: usize = 28;

/// The one parser of an amount's text, for every entry point (gRPC requests and answers, the
/// command line's flags and commit files, CSV import), for field `field`.
///
/// The text is exactly an optional `-`, one or more digits, and optionally a point followed by one
/// or more digits: no sign `+`, no spaces, no exponent, no thousands separators. Its decimal places
/// are counted on the text, before any conversion, and may be at most `currency`'s minor units
/// (DESIGN, Money): `"1.000"` USD and `"1.0"` JPY are refused, and nothing is ever rounded (the
/// decimal type would round past 28 places). With `currency` `None` (an amount whose currency is
/// not known yet, such as a new advance limit, which the rules check against the project's
/// currency) at most [`MINOR_UNITS_MAX`] places are allowed. The value keeps the text's scale.
/// Sign and size are the caller's to check ([`Money::new`]).
pub fn parse_amount(field: &str, text: &str, currency: Option<Currency>) -> Result<Decimal, LedgerError> {
    let body = text.strip_prefix('-').unwrap_or(text);
    let (whole, places) = match body.split_once('.') {
        Some((w, p)) => (w, Some(p)),
        None => (body, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !places.is_none_or(digits) {
        return Err(LedgerError::invalid(
            field,
            format!("{} is not a decimal number such as \"1250.00\"", crate::error::quoted(text)),
        ));
    }
    let places = places.map_or(0, str::len);
    let (allowed, unit) = match currency {
        Some(c) => (c.minor_units() as usize, c.code().to_owned()),
        None => (MINOR_UNITS_MAX as usize, "no currency".to_owned()),
    };
    if places > allowed {
        return Err(LedgerError::invalid(
            field,
            format!("{} has {places} decimal places; {unit} allows {allowed}", crate::error::quoted(text)),
        ));
    }
    if whole.len() > AMOUNT_INTEGER_DIGITS_MAX {
        return Err(LedgerError::invalid(
            field,
            format!("{} has more than {AMOUNT_INTEGER_DIGITS_MAX} digits before the point", crate::error::quoted(text)),
        ));
    }
    Decimal::from_str_exact(text)
        .map_err(|e| LedgerError::invalid(field, format!("{} is out of range: {e}", crate::error::quoted(text))))
}

/// The one formatter of an amount, for every answer, statement, export and table: exactly
/// `currency`'s minor units (`1250.5` USD → `"1250.50"`, `3` JPY → `"3"`), never a negative zero
/// (`-0` → `"0.00"`), no sign for positive amounts, no separators.
pub fn format_amount(amount: Decimal, currency: Currency) -> String {
    format_places(amount, currency.minor_units())
}

/// An amount for people to read, in messages: [`format_amount`] with its integer digits grouped by
/// thousands with commas, then the currency code (`18000` USD → `"18,000.00 USD"`, `-1234.5` EUR →
/// `"-1,234.50 EUR"`, `1500000` JPY → `"1,500,000 JPY"`). Answers on the wire, exports and JSON keep
/// [`format_amount`]'s plain digits.
pub fn display_amount(amount: Decimal, currency: Currency) -> String {
    let plain = format_amount(amount, currency);
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (integer, fraction) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::with_capacity(integer.len() + integer.len() / 3);
    for (i, c) in integer.chars().enumerate() {
        if i > 0 && (integer.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f} {}", currency.code()),
        None => format!("{sign}{grouped} {}", currency.code()),
    }
}

/// An amount whose currency is not known to the writer (a new advance limit written into a request
/// before the project's currency is known), with the places it needs; never a negative zero.
pub fn format_amount_unknown_currency(amount: Decimal) -> String {
    format_places(amount, amount.normalize().scale())
}

fn format_places(amount: Decimal, places: u32) -> String {
    let mut a = amount.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    a.rescale(places);
    if a.is_zero() {
        a.set_sign_positive(true);
    }
    a.to_string()
}

/// `round(amount × bps / 10000)` to the currency's minor units, midpoint away from zero.
///
/// Exact for every [`Money`] amount and every `u32` rate: the product is at most 1e15 × 2^32 at 3
/// decimal places, far inside a `Decimal`. Total for any other amount too: when `amount × bps` is
/// out of a `Decimal`'s range it is computed in integers ([`prorate`]), and saturates past that.
pub fn fee(amount: Decimal, fee_bps: u32, currency: Currency) -> Decimal {
    // × bps then four more decimal places: exact, and cheaper than a division on replay.
    let raw = amount
        .checked_mul(Decimal::from(fee_bps))
        .and_then(|p| Decimal::try_from_i128_with_scale(p.mantissa(), p.scale() + 4).ok());
    match raw {
        Some(raw) => raw.round_dp_with_strategy(currency.minor_units(), RoundingStrategy::MidpointAwayFromZero),
        None => prorate(amount, Decimal::from(fee_bps), Decimal::from(10_000), currency)
            .unwrap_or(if amount.is_sign_negative() { Decimal::MIN } else { Decimal::MAX }),
    }
}

/// Largest magnitude any account of a project's books may reach in one currency: 1e18 in the
/// currency's major unit (1,000 × [`AMOUNT_MAX`]). Rules refuse an event that would pass it
/// ([`checked_balance`]); below it every sum the ledger keeps is exact in a `Decimal` (at 3 decimal
/// places a mantissa of 1e21, against 2^96 ≈ 7.9e28), the sponsor-wide sums of a bank account
/// over millions of projects included. Source: the overflow policy in `ARCHITECTURE.md`.
pub const BALANCE_MAX: Decimal = Decimal::from_parts(2_808_348_672, 232_830_643, 0, false, 0);

/// `balance + amount` when both it and the result stay within ±[`BALANCE_MAX`]; `None` otherwise
/// (the caller refuses the event).
pub fn checked_balance(balance: Decimal, amount: Decimal) -> Option<Decimal> {
    let sum = balance.checked_add(amount)?;
    (sum.abs() <= BALANCE_MAX && balance.abs() <= BALANCE_MAX).then_some(sum)
}

/// `round(total × part / whole)` to `currency`'s minor units, midpoint away from zero, computed
/// exactly in integers (a refund's share of a contribution's fee). `None` when `whole` is not
/// positive or an input is out of range (more than 28 decimal places, or a product over 2^127).
pub fn prorate(total: Decimal, part: Decimal, whole: Decimal, currency: Currency) -> Option<Decimal> {
    if whole <= Decimal::ZERO {
        return None;
    }
    // total = T·10^-a, part = P·10^-b, whole = W·10^-c; the result in 10^-m units is
    // T·P·10^(m + c - a - b) / W.
    let m = currency.minor_units();
    let e = i64::from(m) + i64::from(whole.scale()) - i64::from(total.scale()) - i64::from(part.scale());
    let power = 10i128.checked_pow(u32::try_from(e.unsigned_abs()).ok()?)?;
    let product = total.mantissa().checked_mul(part.mantissa())?;
    let (numerator, denominator) = if e >= 0 {
        (product.checked_mul(power)?, whole.mantissa())
    } else {
        (product, whole.mantissa().checked_mul(power)?)
    };
    let (q, r) = (numerator / denominator, numerator % denominator);
    let away = r.checked_abs()?.checked_mul(2)? >= denominator;
    let rounded = if away { q + numerator.signum() } else { q };
    Decimal::try_from_i128_with_scale(rounded, m).ok().map(|d| d.normalize())
}

/// Serde form of a [`Decimal`] in records: normalised mantissa as `i64` and scale as `u8`.
pub mod amount_codec {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Encodes a decimal as `(mantissa: i64, scale: u8)` after normalising it.
    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        let n = value.normalize();
        let mantissa = i64::try_from(n.mantissa()).map_err(|_| serde::ser::Error::custom("amount out of range"))?;
        let scale = u8::try_from(n.scale()).map_err(|_| serde::ser::Error::custom("scale out of range"))?;
        (mantissa, scale).serialize(s)
    }

    /// Decodes `(mantissa, scale)`; a scale over 28 or a non-normalised pair is an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let (mantissa, scale) = <(i64, u8)>::deserialize(d)?;
        if scale > 28 {
            return Err(serde::de::Error::custom("decimal scale over 28"));
        }
        if scale > 0 && mantissa % 10 == 0 {
            return Err(serde::de::Error::custom("decimal not normalised"));
        }
        Ok(Decimal::new(mantissa, u32::from(scale)))
    }

    /// The same for an optional decimal.
    pub mod option {
        use rust_decimal::Decimal;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[derive(Serialize, Deserialize)]
        struct Wrap(#[serde(with = "super")] Decimal);

        /// Encodes `Option<Decimal>` as bincode's option tag then `(mantissa, scale)`.
        pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
            value.map(Wrap).serialize(s)
        }

        /// Decodes what [`serialize`] wrote.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
            Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredMoney {
    currency: Currency,
    #[serde(with = "amount_codec")]
    amount: Decimal,
}

impl TryFrom<StoredMoney> for Money {
    type Error = LedgerError;
    fn try_from(m: StoredMoney) -> Result<Money, LedgerError> {
        // The codec already refused a non-normalised amount, so the checks need no normalising.
        let ok = m.amount > Decimal::ZERO && m.amount <= AMOUNT_MAX && m.amount.scale() <= m.currency.minor_units();
        if ok {
            Ok(Money { amount: m.amount, currency: m.currency })
        } else {
            Money::new("amount", m.amount, m.currency)
        }
    }
}

impl From<Money> for StoredMoney {
    fn from(m: Money) -> StoredMoney {
        StoredMoney { currency: m.currency, amount: m.amount }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn amounts_for_people_are_grouped_with_their_currency() {
        let usd = Currency::from_code("USD").expect("USD");
        let jpy = Currency::from_code("JPY").expect("JPY");
        let kwd = Currency::from_code("KWD").expect("KWD");
        assert_eq!(display_amount(d("18000"), usd), "18,000.00 USD");
        assert_eq!(display_amount(d("-1234.5"), usd), "-1,234.50 USD");
        assert_eq!(display_amount(d("999.99"), usd), "999.99 USD");
        assert_eq!(display_amount(d("1500000"), jpy), "1,500,000 JPY");
        assert_eq!(display_amount(d("100000.125"), kwd), "100,000.125 KWD");
        assert_eq!(display_amount(d("-0"), usd), "0.00 USD");
        assert_eq!(display_amount(d("1000000000000000"), usd), "1,000,000,000,000,000.00 USD");
    }

    #[test]
    fn table_is_in_code_order() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(CURRENCIES.iter().all(|(c, _)| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn table_has_at_least_25_currencies_with_minor_units() {
        assert!(Currency::all().count() >= 25);
        let usd = Currency::from_code("USD").expect("USD");
        assert_eq!(usd.minor_units(), 2);
        assert_eq!(Currency::from_code("JPY").expect("JPY").minor_units(), 0);
        assert_eq!(Currency::from_code("KWD").expect("KWD").minor_units(), 3);
        assert!(Currency::from_code("usd").is_none());
        assert!(Currency::from_code("XXX").is_none());
    }

    #[test]
    fn amount_max_is_one_e15() {
        assert_eq!(AMOUNT_MAX, d("1000000000000000"));
    }

    #[test]
    fn money_validation_names_the_field() {
        let err = Money::parse("contribution.amount", "-5", "USD").expect_err("negative");
        assert!(err.to_string().contains("contribution.amount"), "{err}");
        let err = Money::parse("amount", "0", "USD").expect_err("zero");
        assert!(err.to_string().contains("positive"));
        let err = Money::parse("amount", "1.005", "USD").expect_err("scale");
        assert!(err.to_string().contains("decimal places"), "{err}");
        let err = Money::parse("amount", "1.5", "JPY").expect_err("scale");
        assert!(err.to_string().contains("JPY"));
        let err = Money::parse("amount", "1000000000000000.01", "USD").expect_err("size");
        assert!(err.to_string().contains("limit"));
        let err = Money::parse("amount", "1e3", "USD").expect_err("exponent");
        assert!(err.to_string().contains("decimal number"), "{err}");
        let err = Money::parse("x", "12", "XYZ").expect_err("currency");
        assert!(err.to_string().contains("x.currency"));
        assert_eq!(Money::parse("a", "1000000000000000", "USD").expect("max").amount(), AMOUNT_MAX);
        assert_eq!(Money::parse("a", "1.005", "KWD").expect("kwd").amount(), d("1.005"));
    }

    /// The one amount parser's table: what every entry point (gRPC, `fiscus record` flags and
    /// commit files, CSV import) refuses, and why. Places are counted on the text, never rounded.
    #[test]
    fn amounts_with_more_places_than_the_currency_are_refused_on_their_text() {
        let table: &[(&str, &str, &str)] = &[
            ("1.00000000000000000000000000001", "USD", "has 29 decimal places; USD allows 2"),
            ("0.0099999999999999999999999999999", "USD", "has 31 decimal places; USD allows 2"),
            ("1.000", "USD", "has 3 decimal places; USD allows 2"),
            ("1.0", "JPY", "has 1 decimal places; JPY allows 0"),
            ("0.00000000000000000000000000001", "USD", "has 29 decimal places; USD allows 2"),
            ("1.0000", "KWD", "has 4 decimal places; KWD allows 3"),
            ("-0.001", "USD", "has 3 decimal places; USD allows 2"),
            ("+1.00", "USD", "is not a decimal number"),
            (" 1.00", "USD", "is not a decimal number"),
            ("1.00 ", "USD", "is not a decimal number"),
            ("1,250.00", "USD", "is not a decimal number"),
            ("1.", "USD", "is not a decimal number"),
            (".5", "USD", "is not a decimal number"),
            ("1e3", "USD", "is not a decimal number"),
            ("--1", "USD", "is not a decimal number"),
            ("", "USD", "is not a decimal number"),
            ("99999999999999999999999999999", "JPY", "more than 28 digits"),
        ];
        for (text, code, reason) in table {
            let err = Money::parse("events[0].contribution_received.amount", text, code).expect_err(text);
            assert_eq!(err.field(), Some("events[0].contribution_received.amount"), "{text}");
            assert!(err.to_string().contains(reason), "{text} {code}: {err}");
            assert!(!err.to_string().contains("positive"), "{text}: refused for its places, not its sign: {err}");
        }
        // What is allowed keeps its value exactly.
        for (text, code, value) in
            [("1.00", "USD", "1"), ("1.5", "USD", "1.5"), ("1", "JPY", "1"), ("0.125", "KWD", "0.125")]
        {
            assert_eq!(Money::parse("a", text, code).expect(text).amount(), d(value), "{text}");
        }
        let usd = Currency::from_code("USD");
        assert_eq!(parse_amount("a", "-12.50", usd).expect("signed"), d("-12.5"));
        assert_eq!(parse_amount("a", "1.000", None).expect("no currency: at most 3 places").scale(), 3);
        assert!(parse_amount("a", "1.0000", None).is_err());
    }

    #[test]
    fn money_is_normalised_so_equal_amounts_encode_equally() {
        let a = Money::parse("a", "10.5", "EUR").expect("a");
        let b = Money::parse("a", "10.50", "EUR").expect("b");
        assert_eq!(a, b);
        let cfg = crate::record::codec_config();
        let ea = bincode::serde::encode_to_vec(a, cfg).expect("encode");
        let eb = bincode::serde::encode_to_vec(b, cfg).expect("encode");
        assert_eq!(ea, eb);
        assert_eq!(a.amount().scale(), 1);
    }

    #[test]
    fn fee_rounds_midpoint_away_from_zero() {
        let usd = Currency::from_code("USD").expect("USD");
        assert_eq!(fee(d("100"), 700, usd), d("7"));
        // 0.125 → 0.13
        assert_eq!(fee(d("1.25"), 1000, usd), d("0.13"));
        // 0.0049 → 0.00
        assert_eq!(fee(d("0.07"), 700, usd), d("0"));
        let jpy = Currency::from_code("JPY").expect("JPY");
        // 12.5 → 13
        assert_eq!(fee(d("250"), 500, jpy), d("13"));
        // The largest amount at the largest rate a u32 holds: exact, no overflow.
        assert_eq!(fee(AMOUNT_MAX, u32::MAX, usd), d("429496729500000000000"));
        // Past a Decimal's range: no panic.
        assert_eq!(fee(Decimal::MAX, u32::MAX, usd), Decimal::MAX);
        assert_eq!(fee(Decimal::MIN, u32::MAX, usd), Decimal::MIN);
        assert_eq!(fee(d("0.0000000000000000000000000001"), 5000, usd), d("0"));
    }

    #[test]
    fn balance_max_is_one_e18_and_checked() {
        assert_eq!(BALANCE_MAX, d("1000000000000000000"));
        assert_eq!(checked_balance(BALANCE_MAX - AMOUNT_MAX, AMOUNT_MAX), Some(BALANCE_MAX));
        assert_eq!(checked_balance(BALANCE_MAX, d("0.01")), None);
        assert_eq!(checked_balance(-BALANCE_MAX, d("-0.001")), None);
        assert_eq!(checked_balance(Decimal::MAX, Decimal::MAX), None);
        assert_eq!(checked_balance(Decimal::MAX, -Decimal::MAX), None);
    }

    #[test]
    fn prorate_is_exact_at_the_largest_amounts() {
        let usd = Currency::from_code("USD").expect("USD");
        let max = AMOUNT_MAX;
        // 9 % of 1e15 given back whole: a Decimal product (9e13 × 1e15) would overflow.
        assert_eq!(prorate(d("90000000000000"), max, max, usd), Some(d("90000000000000")));
        assert_eq!(prorate(d("90000000000000"), d("0.01"), max, usd), Some(d("0")));
        // 7 × 1/3 = 2.333… → 2.33; 7 × 2/3 = 4.666… → 4.67; midpoint 0.125 → 0.13.
        assert_eq!(prorate(d("7"), d("1"), d("3"), usd), Some(d("2.33")));
        assert_eq!(prorate(d("7"), d("2"), d("3"), usd), Some(d("4.67")));
        assert_eq!(prorate(d("0.25"), d("1"), d("2"), usd), Some(d("0.13")));
        assert_eq!(prorate(d("-0.25"), d("1"), d("2"), usd), Some(d("-0.13")));
        let kwd = Currency::from_code("KWD").expect("KWD");
        assert_eq!(prorate(d("1.001"), d("1"), d("2"), kwd), Some(d("0.501")));
        assert_eq!(prorate(d("1"), d("1"), Decimal::ZERO, usd), None);
        assert_eq!(prorate(Decimal::MAX, Decimal::MAX, d("1"), usd), None);
    }

    #[test]
    fn format_amount_uses_minor_units() {
        let usd = Currency::from_code("USD").expect("USD");
        let jpy = Currency::from_code("JPY").expect("JPY");
        let kwd = Currency::from_code("KWD").expect("KWD");
        assert_eq!(format_amount(d("1250.5"), usd), "1250.50");
        assert_eq!(format_amount(d("-3"), usd), "-3.00");
        assert_eq!(format_amount(d("3.000"), jpy), "3");
        assert_eq!(format_amount(d("0.5"), kwd), "0.500");
    }

    #[test]
    fn format_amount_never_writes_a_negative_zero() {
        let usd = Currency::from_code("USD").expect("USD");
        let jpy = Currency::from_code("JPY").expect("JPY");
        let zeros =
            [-Decimal::ZERO, d("-0.00"), Decimal::ZERO - Decimal::ZERO, d("5") - d("5"), -(d("1.25") - d("1.25"))];
        for z in zeros {
            assert_eq!(format_amount(z, usd), "0.00", "{z:?}");
            assert_eq!(format_amount(z, jpy), "0", "{z:?}");
            assert_eq!(format_amount_unknown_currency(z), "0", "{z:?}");
        }
        assert_eq!(format_amount_unknown_currency(d("-2.50")), "-2.5");
    }
}
