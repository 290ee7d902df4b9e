//! RFC 8785 JSON Canonicalization Scheme, by the `serde_jcs` crate (keys in UTF-16 code-unit
//! order, ECMAScript number formatting through `ryu-js`), checked here with the RFC's own
//! examples.

use serde_json::Value;

/// The canonical form of `value`, as UTF-8 text.
pub fn canonicalize(value: &Value) -> Result<String, String> {
    serde_jcs::to_string(value).map_err(|e| format!("JCS canonicalization failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::canonicalize;
    use serde_json::json;

    /// RFC 8785 section 3.2.2 example (numbers, literals, escapes), input from section 3.2.2.
    #[test]
    fn rfc8785_sample() {
        let input: serde_json::Value = serde_json::from_str(
            r#"{
              "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }"#,
        )
        .unwrap();
        assert_eq!(
            canonicalize(&input).unwrap(),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    /// RFC 8785 section 3.2.3: property names sorted by UTF-16 code units.
    #[test]
    fn rfc8785_key_order() {
        let input: serde_json::Value = serde_json::from_str(
            r#"{
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }"#,
        )
        .unwrap();
        let keys: Vec<String> = match serde_json::from_str::<serde_json::Value>(
            &canonicalize(&input).unwrap(),
        )
        .unwrap()
        {
            serde_json::Value::Object(m) => m
                .values()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
            _ => unreachable!(),
        };
        assert_eq!(
            keys,
            [
                "Carriage Return",
                "One",
                "Control",
                "Latin Small Letter O With Diaeresis",
                "Euro Sign",
                "Emoji: Grinning Face",
                "Hebrew Letter Dalet With Dagesh"
            ]
        );
    }

    /// RFC 8785 appendix B: ECMAScript number serialization samples.
    #[test]
    fn rfc8785_numbers() {
        for (ieee, expected) in [
            (0x0000000000000000u64, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x4122000000000000, "589824"),
        ] {
            let v = json!(f64::from_bits(ieee));
            assert_eq!(canonicalize(&v).unwrap(), expected, "{ieee:#x}");
        }
    }

    #[test]
    fn nested_objects_and_arrays() {
        let v = json!({"b": [{"z": 1, "a": "x"}], "a": {"d": true, "c": null}});
        assert_eq!(
            canonicalize(&v).unwrap(),
            r#"{"a":{"c":null,"d":true},"b":[{"a":"x","z":1}]}"#
        );
    }
}
