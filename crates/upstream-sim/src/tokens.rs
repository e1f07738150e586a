//! Deterministic token accounting and reply text.
//!
//! A real tokenizer would make usage numbers depend on a vocabulary file; the
//! simulator instead counts one token per whitespace-separated word so that
//! tests can compute the exact `usage` they expect by hand.

/// Tokens added for every message in a chat prompt (role and framing).
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Tokens added once per chat prompt for priming the assistant's reply.
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// The words of every reply, used in order and cycled when the reply is
/// longer than the list. Twelve words make the default reply one sentence.
pub const REPLY_WORDS: [&str; 12] = [
    "Hello",
    "from",
    "the",
    "upstream",
    "simulator.",
    "This",
    "reply",
    "is",
    "deterministic",
    "and",
    "repeats",
    "itself.",
];

/// Number of tokens in a piece of text: its whitespace-separated words.
pub fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The `i`-th (0-based) word of a reply.
pub fn reply_word(i: usize) -> &'static str {
    REPLY_WORDS[i % REPLY_WORDS.len()]
}

/// The full reply text of `tokens` tokens: that many words joined by single
/// spaces, with no leading or trailing space.
pub fn reply_text(tokens: u32) -> String {
    let n = tokens as usize;
    let mut out = String::with_capacity(n * 8);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(reply_word(i));
    }
    out
}

/// Prompt tokens of a chat request given the word count of each message's
/// text content: `3 + words` per message, plus 3 for the reply priming.
pub fn prompt_tokens<I: IntoIterator<Item = u64>>(message_words: I) -> u64 {
    message_words
        .into_iter()
        .map(|w| TOKENS_PER_MESSAGE + w)
        .sum::<u64>()
        + REPLY_PRIMING_TOKENS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_has_exactly_n_words() {
        assert_eq!(reply_text(0), "");
        assert_eq!(reply_text(1), "Hello");
        assert_eq!(count_words(&reply_text(30)), 30);
        assert_eq!(
            reply_text(12),
            "Hello from the upstream simulator. This reply is deterministic and repeats itself."
        );
    }

    #[test]
    fn single_user_message_costs_seven() {
        assert_eq!(prompt_tokens([count_words("Hello!")]), 7);
    }
}
