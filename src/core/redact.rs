//! Connection secrets: what a database URL or connection string may carry (a password in the
//! userinfo, a `password=` or `sslpassword=` parameter) and how it is shown: never. Everything
//! the tool prints, logs, stores or records passes through `redact` (for the URL) or `scrub`
//! (for a message that might quote it).

/// Parameter names whose values are secrets.
const SECRET_KEYS: [&str; 4] = ["password", "sslpassword", "pass", "pwd"];

fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// The URL with every secret replaced by `***`: the userinfo password and secret query
/// parameters of a URL, or secret `key=value` pairs of a connection string.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return redact_pairs(url, ' ');
    };
    let rest_start = scheme_end + 3;
    let authority_end = url[rest_start..].find(['/', '?', '#']).map_or(url.len(), |i| rest_start + i);
    let authority = &url[rest_start..authority_end];
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!("{user}:***{}", &authority[at..]),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let rest = &url[authority_end..];
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = query.split_once('#').map_or((query, None), |(q, f)| (q, Some(f)));
            let mut out = format!("{path}?{}", redact_pairs(query, '&'));
            if let Some(fragment) = fragment {
                out.push('#');
                out.push_str(fragment);
            }
            out
        }
        None => rest.to_string(),
    };
    format!("{}{authority}{rest}", &url[..rest_start])
}

/// `key=value` pairs separated by `separator`, secret values replaced.
fn redact_pairs(text: &str, separator: char) -> String {
    text.split(separator)
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_key(key.trim()) => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join(&separator.to_string())
}

/// The secrets a URL carries, raw and percent-decoded, to scrub from messages that quote them.
pub fn secrets(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut push = |value: &str| {
        if !value.is_empty() {
            found.push(value.to_string());
            let decoded = percent_decode(value);
            if decoded != value {
                found.push(decoded);
            }
        }
    };
    if let Some(scheme_end) = url.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = url[rest_start..].find(['/', '?', '#']).map_or(url.len(), |i| rest_start + i);
        let authority = &url[rest_start..authority_end];
        if let Some(at) = authority.rfind('@')
            && let Some((_, password)) = authority[..at].split_once(':')
        {
            push(password);
        }
        if let Some((_, query)) = url[authority_end..].split_once('?') {
            for pair in query.split(['&', '#']) {
                if let Some((key, value)) = pair.split_once('=')
                    && is_secret_key(key)
                {
                    push(value);
                }
            }
        }
    } else {
        for pair in url.split(' ') {
            if let Some((key, value)) = pair.split_once('=')
                && is_secret_key(key.trim())
            {
                push(value.trim_matches('\''));
            }
        }
    }
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found
}

/// `text` with every occurrence of the secrets replaced by `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |text, secret| text.replace(secret.as_str(), "***"))
}

pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_password_is_removed() {
        let cases = [
            ("postgres://u:s3cr%40t@db:5432/app?sslmode=require", "postgres://u:***@db:5432/app?sslmode=require"),
            ("postgres://u@db/app?password=s3cret&sslmode=require", "postgres://u@db/app?password=***&sslmode=require"),
            ("postgres://u@db/app?sslpassword=s3cret", "postgres://u@db/app?sslpassword=***"),
            ("postgres://u@db/app?options=-csearch_path%3Da@b", "postgres://u@db/app?options=-csearch_path%3Da@b"),
            ("mysql://root:s3cret@127.0.0.1:3306/test", "mysql://root:***@127.0.0.1:3306/test"),
            ("mysql://root@h/test?PASSWORD=s3cret", "mysql://root@h/test?PASSWORD=***"),
            ("host=db user=u password=s3cret dbname=app", "host=db user=u password=*** dbname=app"),
            ("sqlite:db.sqlite3", "sqlite:db.sqlite3"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact(url), shown, "{url}");
            let scrubbed = scrub(&format!("error near {url}"), &secrets(url));
            assert!(!scrubbed.contains("s3cr"), "{scrubbed}");
        }
        assert_eq!(secrets("postgres://u:s3cr%40t@db/app"), ["s3cr%40t", "s3cr@t"]);
    }
}
