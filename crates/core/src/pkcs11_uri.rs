//! RFC 7512 PKCS#11 URIs: the module, token and key object of a key kept in hardware.
//!
//! `pkcs11:token=kcsr;object=alice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin`
//!
//! Only the attributes kcsr acts on are accepted; an unknown one is an error rather than
//! ignored, so a URI never matches a token or key other than the one its writer meant.
//! `pin-value` is refused: a PIN in a URI ends up in shell history, the process list and the
//! station's records. The URI that is recorded is [`Pkcs11Uri::without_pin`]: the
//! `pin-source` says where a secret is, so it is left out too.

use std::fmt;
use std::str::FromStr;

/// A parsed PKCS#11 URI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `manufacturer`: the token's manufacturer ID.
    pub manufacturer: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id`: the slot number.
    pub slot_id: Option<u64>,
    /// `object`: the key object's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id`: the key object's `CKA_ID` bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path`: the PKCS#11 module to load (absolute).
    pub module_path: Option<String>,
    /// `module-name`: a module by name (kcsr needs `module-path`; kept to say so).
    pub module_name: Option<String>,
    /// `pin-source`: where the PIN is read from (`file:/path` or a path).
    pub pin_source: Option<String>,
}

const SCHEME: &str = "pkcs11:";

impl Pkcs11Uri {
    /// The URI as the station records it: everything that names the key, nothing about its
    /// PIN.
    pub fn without_pin(&self) -> Self {
        Self {
            pin_source: None,
            ..self.clone()
        }
    }

    /// The file `pin-source` names: `file:/abs`, `file:///abs` or a bare path.
    pub fn pin_file(&self) -> Option<&str> {
        let s = self.pin_source.as_deref()?;
        Some(match s.strip_prefix("file://") {
            Some(rest) => rest,
            None => s.strip_prefix("file:").unwrap_or(s),
        })
    }

    /// A short name of the token for messages: its label, else its serial, else the slot.
    pub fn token_name(&self) -> String {
        match (&self.token, &self.serial, self.slot_id) {
            (Some(t), _, _) => format!("{t:?}"),
            (None, Some(s), _) => format!("with serial {s:?}"),
            (None, None, Some(id)) => format!("in slot {id}"),
            (None, None, None) => "(any)".to_owned(),
        }
    }
}

impl FromStr for Pkcs11Uri {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .get(..SCHEME.len())
            .filter(|p| p.eq_ignore_ascii_case(SCHEME))
            .map(|_| &s[SCHEME.len()..])
            .ok_or_else(|| {
                "not a PKCS#11 URI: it must start with \"pkcs11:\" (RFC 7512), e.g. pkcs11:token=NAME;object=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so".to_owned()
            })?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Self::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = split_attr(attr)?;
            uri.set_path_attr(name, value)?;
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (name, value) = split_attr(attr)?;
            uri.set_query_attr(name, value)?;
        }
        Ok(uri)
    }
}

impl Pkcs11Uri {
    /// One path attribute: what names the token and the key.
    fn set_path_attr(&mut self, name: &str, value: &str) -> Result<(), String> {
        let set = |slot: &mut Option<String>| set_text(slot, name, value);
        match name {
            "token" => set(&mut self.token)?,
            "manufacturer" => set(&mut self.manufacturer)?,
            "model" => set(&mut self.model)?,
            "serial" => set(&mut self.serial)?,
            "object" => set(&mut self.object)?,
            "id" => {
                if self.id.is_some() {
                    return Err(duplicate(name));
                }
                self.id = Some(decode(value).map_err(|e| format!("attribute id: {e}"))?);
            }
            "slot-id" => {
                if self.slot_id.is_some() {
                    return Err(duplicate(name));
                }
                self.slot_id =
                    Some(value.parse().map_err(|_| {
                        format!("attribute slot-id: {value:?} is not a slot number")
                    })?);
            }
            "type" => {
                let t = text(name, value)?;
                if t != "private" {
                    return Err(format!(
                        "attribute type={t}: kcsr signs with a private key; use type=private or leave type out"
                    ));
                }
            }
            other => {
                return Err(format!(
                    "unknown path attribute {other:?}; kcsr reads token, manufacturer, model, serial, slot-id, object, id and type"
                ));
            }
        }
        Ok(())
    }

    /// One query attribute: the module, and where the PIN is.
    fn set_query_attr(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "module-path" => {
                set_text(&mut self.module_path, name, value)?;
                if !self
                    .module_path
                    .as_deref()
                    .is_some_and(|p| p.starts_with('/'))
                {
                    return Err("attribute module-path must be an absolute path".to_owned());
                }
            }
            "module-name" => set_text(&mut self.module_name, name, value)?,
            "pin-source" => {
                set_text(&mut self.pin_source, name, value)?;
                let source = self.pin_source.as_deref().unwrap_or_default();
                if source.contains(':') && !source.starts_with("file:") {
                    return Err(format!(
                        "attribute pin-source={source}: kcsr reads the PIN from a file (pin-source=file:/path)"
                    ));
                }
            }
            "pin-value" => {
                return Err("pin-value puts the PIN where shell history, the process list and the station's records keep it; use pin-source=file:/path, or leave both out to be asked on the terminal".to_owned());
            }
            other => {
                return Err(format!(
                    "unknown query attribute {other:?}; kcsr reads module-path, module-name and pin-source"
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEME)?;
        let mut path: Vec<String> = Vec::new();
        for (name, value) in [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
        ] {
            if let Some(v) = value {
                path.push(format!("{name}={}", encode(v.as_bytes(), false)));
            }
        }
        if let Some(id) = self.slot_id {
            path.push(format!("slot-id={id}"));
        }
        if let Some(v) = &self.object {
            path.push(format!("object={}", encode(v.as_bytes(), false)));
        }
        if let Some(id) = &self.id {
            // Always %XX: CKA_ID is bytes, and RFC 7512 shows it this way.
            let hex: String = id.iter().map(|b| format!("%{b:02X}")).collect();
            path.push(format!("id={hex}"));
        }
        f.write_str(&path.join(";"))?;
        let mut query: Vec<String> = Vec::new();
        for (name, value) in [
            ("module-name", &self.module_name),
            ("module-path", &self.module_path),
            ("pin-source", &self.pin_source),
        ] {
            if let Some(v) = value {
                query.push(format!("{name}={}", encode(v.as_bytes(), true)));
            }
        }
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

fn split_attr(attr: &str) -> Result<(&str, &str), String> {
    attr.split_once('=')
        .ok_or_else(|| format!("attribute {attr:?} has no value (expected NAME=VALUE)"))
}

fn duplicate(name: &str) -> String {
    format!("attribute {name} is given twice")
}

fn set_text(slot: &mut Option<String>, name: &str, value: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(duplicate(name));
    }
    *slot = Some(text(name, value)?);
    Ok(())
}

/// A percent-decoded attribute value that must be printable UTF-8.
fn text(name: &str, value: &str) -> Result<String, String> {
    let bytes = decode(value).map_err(|e| format!("attribute {name}: {e}"))?;
    let s = String::from_utf8(bytes)
        .map_err(|_| format!("attribute {name}: the value is not UTF-8 once decoded"))?;
    if s.is_empty() {
        return Err(format!("attribute {name} is empty"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!(
            "attribute {name}: the value holds control characters"
        ));
    }
    Ok(s)
}

fn decode(value: &str) -> Result<Vec<u8>, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{value:?} has a bad percent-escape (expected %XX)"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

fn encode(bytes: &[u8], query: bool) -> String {
    let mut s = String::new();
    for &b in bytes {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (query && matches!(b, b'/' | b':'));
        if keep {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Pkcs11Uri, String> {
        s.parse()
    }

    #[test]
    fn reads_token_object_id_module_and_pin_source() {
        let uri = parse(
            "pkcs11:token=My%20Token;object=alice;id=%01%a2?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(uri.token.as_deref(), Some("My Token"));
        assert_eq!(uri.object.as_deref(), Some("alice"));
        assert_eq!(uri.id.as_deref(), Some(&[0x01, 0xa2][..]));
        assert_eq!(
            uri.module_path.as_deref(),
            Some("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(uri.pin_file(), Some("/run/pin"));
        assert_eq!(
            uri.to_string(),
            "pkcs11:token=My%20Token;object=alice;id=%01%A2?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"
        );
        assert_eq!(parse(&uri.to_string()), Ok(uri.clone()));
        let recorded = uri.without_pin().to_string();
        assert!(!recorded.contains("pin"), "{recorded}");
    }

    #[test]
    fn pin_source_forms() {
        for (s, file) in [
            ("pin-source=file:///p/pin", "/p/pin"),
            ("pin-source=file:/p/pin", "/p/pin"),
            ("pin-source=/p/pin", "/p/pin"),
        ] {
            let uri = parse(&format!("pkcs11:token=t?{s}")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(uri.pin_file(), Some(file));
        }
    }

    #[test]
    fn refuses_what_it_would_not_act_on() {
        for (s, why) in [
            ("token=t", "must start with \"pkcs11:\""),
            ("pkcs11:token=t?pin-value=1234", "pin-value puts the PIN"),
            ("pkcs11:token=t;library-version=1", "unknown path attribute"),
            ("pkcs11:token=t?foo=1", "unknown query attribute"),
            ("pkcs11:token=a;token=b", "given twice"),
            ("pkcs11:token=t;type=cert", "type=private"),
            ("pkcs11:token=%zz", "bad percent-escape"),
            ("pkcs11:token=%0a", "control characters"),
            ("pkcs11:token=", "empty"),
            ("pkcs11:slot-id=x", "not a slot number"),
            ("pkcs11:token=t?module-path=lib.so", "absolute"),
            ("pkcs11:token=t?pin-source=%7Ccat", ""),
            ("pkcs11:token=t?pin-source=env:PIN", "from a file"),
            ("pkcs11:token", "has no value"),
        ] {
            match parse(s) {
                Err(e) => assert!(e.contains(why), "{s}: {e}"),
                // A bare `|cat` is a path to kcsr, never a command.
                Ok(uri) if why.is_empty() => assert_eq!(uri.pin_file(), Some("|cat")),
                Ok(uri) => panic!("{s} parsed as {uri:?}"),
            }
        }
    }
}
