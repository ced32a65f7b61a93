//! The jump host inside `ansible_ssh_common_args` / `ansible_ssh_extra_args`.
//!
//! Ansible inventories often reach private hosts with `-J bastion` or
//! `-o ProxyJump=bastion` in these variables. patchgap does not run ssh, so it reads the
//! jump host out of them and ignores every other option (a `ProxyCommand` included: put a
//! `ProxyJump` in the inventory or in ~/.ssh/config instead).

/// The ProxyJump value given in ssh command-line arguments, if any. `none` is returned
/// as is: it switches an ssh_config ProxyJump off.
pub fn proxy_jump(args: &str) -> Option<String> {
    let words = split_words(args);
    let mut words = words.iter().map(String::as_str);
    let mut found = None;
    while let Some(word) = words.next() {
        let option = if word == "-J" {
            found = words.next().map(str::to_string);
            continue;
        } else if let Some(hops) = word.strip_prefix("-J") {
            found = Some(hops.to_string());
            continue;
        } else if word == "-o" {
            words.next()
        } else {
            word.strip_prefix("-o")
        };
        if let Some(value) = option.and_then(proxy_jump_option) {
            found = Some(value);
        }
    }
    // OpenSSH keeps the first value of an option, but `-J` and `-o` given twice is rare
    // enough that the last one, as most tools read it, will do.
    found.filter(|v| !v.is_empty())
}

/// `ProxyJump=HOPS` or `ProxyJump HOPS` (any case).
fn proxy_jump_option(option: &str) -> Option<String> {
    let (key, value) = option
        .split_once('=')
        .or_else(|| option.split_once(char::is_whitespace))?;
    key.trim()
        .eq_ignore_ascii_case("proxyjump")
        .then(|| value.trim().to_string())
}

/// Splits like a POSIX shell would for the simple cases found in inventories: blanks
/// separate words, single and double quotes group, a backslash escapes one character.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                word.extend(chars.next());
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_jump_host_in_each_spelling() {
        assert_eq!(proxy_jump("-J bastion").as_deref(), Some("bastion"));
        assert_eq!(
            proxy_jump("-Jops@bastion:2222").as_deref(),
            Some("ops@bastion:2222")
        );
        assert_eq!(proxy_jump("-o ProxyJump=a,b").as_deref(), Some("a,b"));
        assert_eq!(proxy_jump("-oProxyJump=a").as_deref(), Some("a"));
        assert_eq!(proxy_jump("-o 'proxyjump jump1'").as_deref(), Some("jump1"));
        assert_eq!(
            proxy_jump("-o StrictHostKeyChecking=no -o \"ProxyJump=j\" -C").as_deref(),
            Some("j")
        );
    }

    #[test]
    fn other_options_are_ignored() {
        assert_eq!(proxy_jump("-o ProxyCommand=\"ssh -W %h:%p bastion\""), None);
        assert_eq!(proxy_jump("-C -o ControlMaster=auto"), None);
        assert_eq!(proxy_jump(""), None);
        assert_eq!(proxy_jump("-J"), None);
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"a 'b c' "d e" f\ g"#),
            ["a", "b c", "d e", "f g"]
        );
        assert_eq!(split_words("  "), Vec::<String>::new());
        assert_eq!(split_words("''"), [""]);
    }
}
