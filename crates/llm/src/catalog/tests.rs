//! Tests of the catalog: the built-in data, its schema and its checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

#[test]
fn builtin_catalog_is_valid_and_resolves_aliases() {
    let cat = ModelCatalog::from_entries(&ModelCatalog::builtin_entries().unwrap()).unwrap();
    let Resolution::Found(m) = cat.resolve("claude-4-sonnet") else {
        panic!("alias not resolved")
    };
    assert_eq!(m.id, "anthropic/claude-sonnet-4-0");
    assert_eq!(m.upstream, "claude-sonnet-4-0");
    assert_eq!(m.prices.input, 3_000_000);
    assert_eq!(cat.alias_map()["gpt-4o"], "openai/gpt-4o");
}

#[test]
fn unknown_name_suggests_close_ones() {
    let cat = ModelCatalog::from_entries(&ModelCatalog::builtin_entries().unwrap()).unwrap();
    let Resolution::NotFound { suggestions } = cat.resolve("claude-sonet-4") else {
        panic!("should not resolve")
    };
    assert!(
        suggestions.iter().any(|s| s.contains("sonnet-4")),
        "{suggestions:?}"
    );
}

#[test]
fn overrides_replace_and_duplicates_are_reported() {
    let mut o: ModelEntry = serde_yaml_ng::from_str(
        "{id: openai/gpt-4o, provider: openai, aliases: [fast], prices: {input: 1}}",
    )
    .unwrap();
    let merged = ModelCatalog::merged_entries(std::slice::from_ref(&o)).unwrap();
    let cat = ModelCatalog::from_entries(&merged).unwrap();
    assert_eq!(cat.get("fast").unwrap().prices.input, 1_000_000);
    assert!(cat.get("gpt-4o").is_none(), "override replaced the aliases");
    o.id = "custom/x".into();
    o.aliases = vec!["gpt-5".into()];
    let merged = ModelCatalog::merged_entries(&[o]).unwrap();
    let errs = ModelCatalog::from_entries(&merged).unwrap_err();
    assert!(errs[0].message.contains("gpt-5"), "{errs:?}");
}

fn builtin() -> ModelCatalog {
    ModelCatalog::from_entries(&ModelCatalog::builtin_entries().unwrap()).unwrap()
}

#[test]
fn every_builtin_model_has_a_source_and_a_date() {
    for e in ModelCatalog::builtin_entries().unwrap() {
        let src = e.source.as_deref().unwrap_or_default();
        assert!(src.starts_with("https://"), "{}: source `{src}`", e.id);
        let d = e.as_of.as_deref().unwrap_or_default();
        assert!(is_iso_date(d), "{}: as_of `{d}`", e.id);
        assert!(
            e.max_context.is_some() && e.max_output_tokens.is_some(),
            "{}",
            e.id
        );
    }
}

#[test]
fn each_provider_has_one_current_default() {
    let cat = builtin();
    for (provider, id) in [
        ("anthropic", "anthropic/claude-sonnet-5-5"),
        ("openai", "openai/gpt-6.2-sol"),
        ("ollama", "ollama/llama3.2"),
    ] {
        let defaults: Vec<_> = cat
            .models()
            .iter()
            .filter(|m| m.provider == provider && m.is_default)
            .collect();
        assert_eq!(defaults.len(), 1, "{provider}");
        assert_eq!(defaults[0].id, id);
        assert!(!defaults[0].retired);
    }
    // Catalog order decides between providers: Anthropic, then OpenAI, then Ollama.
    assert_eq!(
        cat.catalog_default().unwrap().id,
        "anthropic/claude-sonnet-5-5"
    );
    let openai = cat.retain_providers(|p| p == "openai");
    assert_eq!(openai.catalog_default().unwrap().id, "openai/gpt-6.2-sol");
    let local = cat.retain_providers(|p| p == "ollama");
    assert_eq!(local.catalog_default().unwrap().id, "ollama/llama3.2");
    assert!(cat
        .retain_providers(|p| p == "custom")
        .catalog_default()
        .is_none());
}

#[test]
fn retired_models_stay_resolvable_and_are_marked() {
    let cat = builtin();
    let m = cat.get("claude-4-sonnet").unwrap();
    assert!(m.retired && !m.is_default);
    assert!(!cat.get("claude-sonnet-5-5").unwrap().retired);
}

#[test]
fn long_context_tiers_are_parsed_and_priced() {
    let cat = builtin();
    let haiku = cat.get("anthropic/claude-haiku-5-5").unwrap();
    let lc = haiku.prices.long_context.unwrap();
    assert_eq!(lc.above_prompt_tokens, 100_000);
    assert_eq!(
        (lc.input, lc.output, lc.cache_write, lc.cache_read),
        (500_000, 2_500_000, 625_000, 50_000)
    );
    let sol = cat.get("gpt-6.2-sol").unwrap();
    assert_eq!(
        sol.prices.long_context.unwrap().above_prompt_tokens,
        272_000
    );
    assert!(cat
        .get("claude-sonnet-5-5")
        .unwrap()
        .prices
        .long_context
        .is_none());
}

#[test]
fn cost_with_cache_tokens_is_exact_for_catalog_prices() {
    let cat = builtin();
    // Claude Sonnet 5.5: $2 in, $10 out, $2.50 cache write, $0.10 cache read per million.
    let sonnet = cat.get("claude-sonnet-5-5").unwrap();
    let u = crate::Usage {
        input_tokens: Some(1_234),
        output_tokens: Some(567),
        cache_write_tokens: Some(8_900),
        cache_read_tokens: Some(12_345),
    };
    // 1234*2 + 567*10 + 8900*2.5 + 12345*0.1 = 2468 + 5670 + 22250 + 1234.5 micro-USD
    assert_eq!(sonnet.prices.cost_pico_usd(&u), Some(31_622_500_000));
    // GPT-6.2 Sol past 272K prompt tokens: $4 in, $15 out, $0.20 cached.
    let sol = cat.get("openai/gpt-6.2-sol").unwrap();
    let long = crate::Usage {
        input_tokens: Some(200_000),
        output_tokens: Some(1_000),
        cache_write_tokens: None,
        cache_read_tokens: Some(100_000),
    };
    // 200000*4 + 1000*15 + 100000*0.2 = 800000 + 15000 + 20000 micro-USD
    assert_eq!(sol.prices.cost_pico_usd(&long), Some(835_000_000_000));
}

fn entry(yaml: &str) -> ModelEntry {
    serde_yaml_ng::from_str(yaml).unwrap()
}

#[test]
fn bad_catalog_data_is_reported_with_its_path() {
    let two = [
        entry("{id: a/x, provider: a, default: true}"),
        entry("{id: a/y, provider: a, default: true}"),
    ];
    let errs = ModelCatalog::from_entries(&two).unwrap_err();
    assert!(
        errs[0].path.contains("a/y") && errs[0].message.contains("a/x"),
        "{errs:?}"
    );
    let retired = [entry(
        "{id: a/x, provider: a, default: true, retired: true}",
    )];
    let errs = ModelCatalog::from_entries(&retired).unwrap_err();
    assert!(errs[0].message.contains("retired"), "{errs:?}");
    let dated = [entry("{id: a/x, provider: a, as_of: 2026-13-01}")];
    let errs = ModelCatalog::from_entries(&dated).unwrap_err();
    assert!(errs[0].path.ends_with("as_of"), "{errs:?}");
    let tier = [entry(
        "{id: a/x, provider: a, prices: {input: 1, long_context: {above_prompt_tokens: 0, input: 2, output: -1}}}",
    )];
    let errs = ModelCatalog::from_entries(&tier).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    // Misspelt keys are refused rather than ignored.
    assert!(serde_yaml_ng::from_str::<ModelEntry>("{id: a/x, provider: a, retird: true}").is_err());
    assert!(serde_yaml_ng::from_str::<ModelEntry>(
        "{id: a/x, provider: a, prices: {long_context: {above_prompt_tokens: 1, input: 1, output: 1, extra: 1}}}"
    )
    .is_err());
}

#[test]
fn a_config_default_takes_over_from_the_builtin_one() {
    let o = entry("{id: openai/mine, provider: openai, default: true}");
    let cat = ModelCatalog::from_entries(&ModelCatalog::merged_entries(&[o]).unwrap()).unwrap();
    let openai = cat.retain_providers(|p| p == "openai");
    assert_eq!(openai.catalog_default().unwrap().id, "openai/mine");
    assert!(!cat.get("gpt-6.2-sol").unwrap().is_default);
    // Other providers keep theirs.
    assert_eq!(
        cat.catalog_default().unwrap().id,
        "anthropic/claude-sonnet-5-5"
    );
}

#[test]
fn iso_dates() {
    assert!(is_iso_date("2026-12-01"));
    for bad in [
        "2026-12-1",
        "2026/12/01",
        "2026-00-10",
        "2026-12-32",
        "",
        "２０２６-12-01",
    ] {
        assert!(!is_iso_date(bad), "{bad}");
    }
}

#[test]
fn retain_drops_unconfigured_providers() {
    let cat = ModelCatalog::from_entries(&ModelCatalog::builtin_entries().unwrap()).unwrap();
    let only = cat.retain_providers(|p| p == "openai");
    assert!(only.models().iter().all(|m| m.provider == "openai"));
    assert!(only.get("claude-4-sonnet").is_none());
    assert!(only.get("gpt-4o").is_some());
}
