//! Twilio request validation: `X-Twilio-Signature` is base64(HMAC-SHA1(auth token, URL + every
//! POST parameter's name and value, sorted by name)). The URL is the public one Twilio posted to,
//! which only the operator knows (proxies rewrite what we see), so it comes from `webhook_url`.

use switchboard_plugin_sdk::{
    self as sdk, Explain as _, WebhookRejection, WebhookRequest, secrets,
};

const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// Accepts the request only if its signature matches.
pub fn verify(
    request: &WebhookRequest,
    params: &[(String, String)],
) -> Result<(), WebhookRejection> {
    let presented = sdk::header(&request.headers, SIGNATURE_HEADER).ok_or_else(|| {
        WebhookRejection::BadSignature(format!("missing {SIGNATURE_HEADER} header"))
    })?;
    let presented = sdk::base64_decode(presented)
        .map_err(|e| WebhookRejection::BadSignature(format!("signature {e}")))?;
    let url = signed_url(&sdk::require_config("webhook_url")?, &request.query);
    let expected = secrets::hmac(
        secrets::HmacAlgorithm::Sha1,
        "auth_token",
        signed_data(&url, params).as_bytes(),
    )
    .map_err(|e| {
        WebhookRejection::Misconfigured(format!("cannot check signatures: {}", e.explain()))
    })?;
    if sdk::constant_time_eq(&expected, &presented) {
        Ok(())
    } else {
        Err(WebhookRejection::BadSignature(format!(
            "signature does not match (signed URL {url})"
        )))
    }
}

/// The URL Twilio signed: the configured public URL with the query string the request arrived
/// with (our status callback URLs carry the contact id there).
pub fn signed_url(webhook_url: &str, query: &str) -> String {
    let base = webhook_url
        .split_once('?')
        .map_or(webhook_url, |(base, _)| base);
    if query.is_empty() {
        webhook_url.to_string()
    } else {
        format!("{base}?{query}")
    }
}

/// The string Twilio signs: the URL, then each parameter's name and value, sorted by name (and by
/// value for repeated names), as Twilio's own helper libraries compute it.
pub fn signed_data(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signed_data_sorts_parameters_by_name() {
        let params = pairs(&[("To", "+1"), ("Body", "hi"), ("From", "+2")]);
        assert_eq!(
            signed_data("https://x.test/hook", &params),
            "https://x.test/hookBodyhiFrom+2To+1"
        );
    }

    #[test]
    fn signed_url_uses_the_query_the_request_came_with() {
        assert_eq!(signed_url("https://x.test/h", ""), "https://x.test/h");
        assert_eq!(
            signed_url("https://x.test/h", "a=1"),
            "https://x.test/h?a=1"
        );
        assert_eq!(
            signed_url("https://x.test/h?old=1", "a=1"),
            "https://x.test/h?a=1"
        );
    }
}
