//! Both providers' stream decoders on arbitrary bytes, split at an arbitrary size: events, then
//! at most one error, and the error is last.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vibectl_llm::anthropic::Anthropic;
use vibectl_llm::openai::OpenAi;
use vibectl_llm::sse::decode_all;
use vibectl_llm::{ProviderError, StreamEvent};

fn check(items: &[Result<StreamEvent, ProviderError>]) {
    if let Some(i) = items.iter().position(Result::is_err) {
        assert_eq!(i, items.len() - 1, "an event after an error");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else { return };
    let split = usize::from(split % 64) + 1;
    check(&decode_all::<OpenAi>(body, split));
    check(&decode_all::<Anthropic>(body, split));
});
