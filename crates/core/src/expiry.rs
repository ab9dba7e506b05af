//! Requested certificate lifetimes (`spec.expirationSeconds`, reference §4.2 and §9.2).

use std::fmt;
use std::str::FromStr;

/// The API's lower bound: 600 seconds.
pub const MIN_SECONDS: i64 = 600;

/// A requested lifetime in whole seconds, parsed from `90s`, `10m`, `12h`, `30d`, `2w`, `1y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiration(i64);

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "duration {value:?} is not a number followed by s, m, h, d, w or y (e.g. 1h, 30d, 1y): {why}"
)]
pub struct ExpirationError {
    /// The offending value.
    pub value: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl Expiration {
    /// From a number of seconds.
    pub fn from_seconds(seconds: i64) -> Self {
        Self(seconds)
    }

    /// The lifetime in seconds.
    pub fn seconds(self) -> i64 {
        self.0
    }
}

impl FromStr for Expiration {
    type Err = ExpirationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| ExpirationError {
            value: s.to_owned(),
            why,
        };
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| err("the unit is missing"))?;
        let (number, unit) = s.split_at(split);
        if number.is_empty() {
            return Err(err("the number is missing"));
        }
        let n: i64 = number.parse().map_err(|_| err("the number is too large"))?;
        let factor = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            "y" => 365 * 86_400,
            _ => return Err(err("unknown unit")),
        };
        let seconds = n
            .checked_mul(factor)
            .filter(|v| *v <= i64::from(i32::MAX))
            .ok_or_else(|| err("longer than expirationSeconds can hold (68 years)"))?;
        Ok(Self(seconds))
    }
}

impl fmt::Display for Expiration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human_seconds(self.0))
    }
}

/// `2592000` -> `30d`; `5400` -> `1h30m`; the largest whole units first.
pub fn human_seconds(mut s: i64) -> String {
    if s == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    if s < 0 {
        out.push('-');
        s = -s;
    }
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("1h".parse::<Expiration>().unwrap().seconds(), 3600);
        assert_eq!("30d".parse::<Expiration>().unwrap().seconds(), 2_592_000);
        assert_eq!("1y".parse::<Expiration>().unwrap().seconds(), 31_536_000);
        assert_eq!("600s".parse::<Expiration>().unwrap().seconds(), 600);
        for bad in ["", "h", "10", "1x", "-1h", "99999999999y"] {
            assert!(bad.parse::<Expiration>().is_err(), "{bad:?}");
        }
        assert_eq!(human_seconds(5400), "1h30m");
        assert_eq!(human_seconds(2_592_000), "30d");
    }
}
