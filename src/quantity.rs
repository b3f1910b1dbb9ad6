//! Kubernetes quantities (`100m`, `1.5Gi`, `1e3`, `2`) as exact decimals:
//! compared by value (recognising the policy's own sidecar after the API
//! server stored its resources in canonical form) and added (raising a pod's
//! pod-level resources by what the policy injects).

use std::fmt;

use serde_json::Value;

/// A quantity as an exact decimal: `digits × 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    digits: u128,
    exponent: i32,
}

impl Quantity {
    pub const ZERO: Quantity = Quantity {
        digits: 0,
        exponent: 0,
    };

    /// Equal values, whatever their notation (`500m`, `0.5`, `5e-1`).
    pub fn same_value(self, other: Quantity) -> bool {
        let (high, low) = if self.exponent >= other.exponent {
            (self, other)
        } else {
            (other, self)
        };
        u32::try_from(high.exponent - low.exponent)
            .ok()
            .and_then(|shift| 10u128.checked_pow(shift))
            .and_then(|scale| high.digits.checked_mul(scale))
            .is_some_and(|scaled| scaled == low.digits)
    }

    /// The sum, exactly; `None` past what a quantity can hold here.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        let exponent = self.exponent.min(other.exponent);
        let scaled = |q: Quantity| {
            u32::try_from(q.exponent - exponent)
                .ok()
                .and_then(|shift| 10u128.checked_pow(shift))
                .and_then(|scale| q.digits.checked_mul(scale))
        };
        Some(Quantity {
            digits: scaled(self)?.checked_add(scaled(other)?)?,
            exponent,
        })
    }

    /// The value of a quantity as the API server accepts it; `None` for what
    /// is not one (or too large to hold).
    pub fn read(value: &Value) -> Option<Quantity> {
        if let Some(whole) = value.as_u64() {
            return Some(Quantity {
                digits: u128::from(whole),
                exponent: 0,
            });
        }
        let text = value.as_str()?.trim();
        let text = text.strip_prefix('+').unwrap_or(text);
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, suffix) = text.split_at(split);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let mut digits: u128 = 0;
        for digit in whole.bytes().chain(fraction.bytes()) {
            // A second '.' is no digit: not a quantity (and no underflow).
            let digit = digit.checked_sub(b'0').filter(|d| *d < 10)?;
            digits = digits.checked_mul(10)?.checked_add(u128::from(digit))?;
        }
        let mut exponent = -i32::try_from(fraction.len()).ok()?;
        let binary = |power: u32| {
            1024u128
                .checked_pow(power)
                .and_then(|scale| digits.checked_mul(scale))
        };
        match suffix {
            "" => {}
            "n" => exponent -= 9,
            "u" => exponent -= 6,
            "m" => exponent -= 3,
            "k" => exponent += 3,
            "M" => exponent += 6,
            "G" => exponent += 9,
            "T" => exponent += 12,
            "P" => exponent += 15,
            "E" => exponent += 18,
            "Ki" => digits = binary(1)?,
            "Mi" => digits = binary(2)?,
            "Gi" => digits = binary(3)?,
            "Ti" => digits = binary(4)?,
            "Pi" => digits = binary(5)?,
            "Ei" => digits = binary(6)?,
            power => {
                let power: i32 = power.strip_prefix(['e', 'E'])?.parse().ok()?;
                exponent = exponent.checked_add(power).filter(|e| e.abs() <= 60)?;
            }
        }
        Some(Quantity { digits, exponent })
    }

    /// The quantity as the API server reads it: a whole number, or a number
    /// of milli-, micro- or nano-units. `None` below a nano-unit (which the
    /// API server rounds) or past what fits.
    pub fn text(self) -> Option<String> {
        if self.exponent >= 0 {
            let scale = 10u128.checked_pow(u32::try_from(self.exponent).ok()?)?;
            return Some(self.digits.checked_mul(scale)?.to_string());
        }
        let (unit, suffix) = match self.exponent {
            -3..=-1 => (-3, "m"),
            -6..=-4 => (-6, "u"),
            -9..=-7 => (-9, "n"),
            _ => return None,
        };
        let scale = 10u128.checked_pow(u32::try_from(self.exponent - unit).ok()?)?;
        Some(format!("{}{suffix}", self.digits.checked_mul(scale)?))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Some(text) => f.write_str(&text),
            None => write!(f, "{}e{}", self.digits, self.exponent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case(json!("500m"), json!("10m"), "510m")]
    #[case(json!("256Mi"), json!("32Mi"), "301989888")]
    #[case(json!("0.5"), json!("1"), "1500m")]
    #[case(json!("1"), json!(2), "3")]
    #[case(json!("1k"), json!("1"), "1001")]
    #[case(json!("1.5u"), json!("1n"), "1501n")]
    fn sums_are_exact(#[case] a: Value, #[case] b: Value, #[case] sum: &str) {
        let total = Quantity::read(&a)
            .and_then(|a| Quantity::read(&b).and_then(|b| a.checked_add(b)))
            .and_then(Quantity::text);
        assert_eq!(total.as_deref(), Some(sum));
        // The text reads back as the same value.
        let back = Quantity::read(&json!(sum)).expect("reads");
        assert!(
            back.same_value(
                Quantity::read(&a)
                    .and_then(|a| a.checked_add(Quantity::read(&b)?))
                    .expect("adds")
            )
        );
    }

    #[test]
    fn what_cannot_be_written_is_none() {
        assert_eq!(Quantity::read(&json!("1e-12")).and_then(Quantity::text), None);
        assert_eq!(Quantity::read(&json!("1x")), None);
        assert_eq!(Quantity::read(&json!("1.2.3")), None);
    }
}
