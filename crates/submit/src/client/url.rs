//! The pieces of URLs the client takes apart or builds.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The host of a server URL (without the brackets of an IPv6 literal): the name the server's
/// certificate is checked against when the kubeconfig names no `tls-server-name`.
pub(super) fn host_of(server: &str) -> String {
    match server.parse::<ureq::http::Uri>() {
        Ok(uri) => match uri.host() {
            Some(host) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            None => server.to_owned(),
        },
        Err(_) => server.to_owned(),
    }
}

/// What RFC 3986 leaves unreserved: everything else in a query value is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query value (field selectors, names).
pub fn query_escape(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_extraction() {
        assert_eq!(host_of("https://api.example:6443/prefix"), "api.example");
        assert_eq!(host_of("https://[::1]:6443"), "::1");
        assert_eq!(host_of("https://10.0.0.1"), "10.0.0.1");
        assert_eq!(host_of("https://user@api.example:6443"), "api.example");
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("metadata.name=alice"), "metadata.name%3Dalice");
        assert_eq!(query_escape("a b/c"), "a%20b%2Fc");
        assert_eq!(query_escape("é~x"), "%C3%A9~x");
    }
}
