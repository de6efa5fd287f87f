//! Both providers' whole-answer parsers on arbitrary bytes: text and usage or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vibectl_llm::anthropic::Anthropic;
use vibectl_llm::openai::OpenAi;
use vibectl_llm::wire::Wire;

fuzz_target!(|data: &[u8]| {
    let _ = OpenAi::default().parse(data);
    let _ = Anthropic.parse(data);
});
