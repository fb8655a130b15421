//! In-process sentence embeddings: all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) run on the
//! CPU with candle, tokenised with the model's own `tokenizer.json`. No Python, no server.
//!
//! The model files come from `scripts/install-models` (sha256-pinned, cached under
//! `${SWITCHBOARD_MODELS_DIR:-${XDG_CACHE_HOME:-~/.cache}/switchboard/models}`), or from the
//! `embedding_model_dir` setting. An embedding is the attention-mask-weighted mean of the last
//! hidden states, L2-normalised, as sentence-transformers computes it for this model, so the cosine
//! of two embeddings is their dot product.
//!
//! `embed` is synchronous and CPU-bound (milliseconds per sentence): async callers run it in
//! `tokio::task::spawn_blocking`. Lowest layer: imports only `config` from the crate.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::config::Settings;

/// The files a model directory must hold.
pub const MODEL_FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];
/// Name of the model's directory under the models cache directory (as `scripts/install-models`).
pub const MODEL_NAME: &str = "all-minilm-l6-v2";
/// Longer inputs are cut to this many tokens ([CLS] and [SEP] included): the length the model was
/// trained with (its `sentence_bert_config.json` says `max_seq_length: 256`).
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass: bounds the memory of one pass (padding is to the longest in a batch).
const BATCH: usize = 32;
/// Most threads the matrix products of one embedding call use: half the cores, at most this
/// many, so embeddings never take over a box they share with the HTTP workers and the database
/// (one thread on 2 cores). Candle runs large element-wise ops on a pool of its own, sized by the
/// `CANDLE_NUM_THREADS` environment variable (default: the physical cores); on a busy 2-core box
/// `CANDLE_NUM_THREADS=1` made a batch of 32 about 40 % faster (its workers spin-wait on each
/// other when the cores are taken).
const MAX_THREADS: usize = 4;

/// A loaded model, cheap to clone (shared) and safe to use from several threads at once.
#[derive(Clone)]
pub struct Embedder {
    inner: Arc<Inner>,
}

// Shared across tasks and moved into `spawn_blocking`: checked at compile time.
const _: () = {
    const fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Embedder>();
};

struct Inner {
    model: BertModel,
    tokenizer: Tokenizer,
    dims: usize,
    device: Device,
    /// The threads candle's matrix products run on (`pool.install`), so a call uses no more
    /// cores than this pool has, whatever rayon's global pool is sized to.
    pool: rayon::ThreadPool,
}

impl Embedder {
    /// Loads the model from a directory with model.safetensors, tokenizer.json, config.json.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let device = Device::Cpu;
        let config_path = dir.join("config.json");
        let config: BertConfig = serde_json::from_slice(
            &std::fs::read(&config_path)
                .with_context(|| format!("reading {}", config_path.display()))?,
        )
        .with_context(|| format!("parsing {}", config_path.display()))?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", tokenizer_path.display()))?;
        // The file pads every input to 128 and truncates there; we pad to the longest text of a
        // batch and truncate at the model's trained length instead.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| anyhow::anyhow!("setting truncation: {e}"))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: u32::try_from(config.pad_token_id).context("pad_token_id")?,
            ..Default::default()
        }));

        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            anyhow::bail!("{} is missing", weights.display());
        }
        // SAFETY: the file is memory-mapped read-only; it must not be modified while the model
        // is loaded. scripts/install-models only ever replaces files (rename), never rewrites them
        // in place, so a mapped file keeps its contents.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .with_context(|| format!("mapping {}", weights.display()))?;
        let model = BertModel::load(vb, &config)
            .with_context(|| format!("loading the BERT weights of {}", weights.display()))?;

        let threads =
            (std::thread::available_parallelism().map_or(1, usize::from) / 2).clamp(1, MAX_THREADS);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embed-{i}"))
            .build()
            .context("starting the embedding threads")?;

        Ok(Self {
            inner: Arc::new(Inner {
                model,
                tokenizer,
                dims: config.hidden_size,
                device,
                pool,
            }),
        })
    }

    /// The directory the model is looked for in: the `embedding_model_dir` setting if non-empty,
    /// else the default cache dir (same env vars as `scripts/install-models`).
    pub fn default_dir(settings: &Settings) -> PathBuf {
        if !settings.embedding_model_dir.is_empty() {
            return PathBuf::from(&settings.embedding_model_dir);
        }
        // Like the script's `${VAR:-…}`: an empty variable counts as unset.
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let models = var("SWITCHBOARD_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let cache = var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
                    var("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_default()
                        .join(".cache")
                });
                cache.join("switchboard").join("models")
            });
        models.join(MODEL_NAME)
    }

    /// Loads from `default_dir`, or None (with a warning naming the dir) when the files are absent
    /// or do not load.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let dir = Self::default_dir(settings);
        let missing: Vec<&str> = MODEL_FILES
            .into_iter()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            tracing::warn!(
                dir = %dir.display(),
                missing = %missing.join(", "),
                "no sentence-embedding model (run scripts/install-models or set embedding_model_dir); \
                 features that need embeddings are off"
            );
            return None;
        }
        // One copy per directory and process (tests start many servers in one process).
        static LOADED: std::sync::Mutex<Vec<(PathBuf, Embedder)>> =
            std::sync::Mutex::new(Vec::new());
        let mut loaded = LOADED.lock().ok();
        if let Some((_, e)) = loaded
            .as_ref()
            .and_then(|l| l.iter().find(|(d, _)| *d == dir))
        {
            return Some(e.clone());
        }
        let started = std::time::Instant::now();
        match Self::load(&dir) {
            Ok(embedder) => {
                if let Some(l) = loaded.as_mut() {
                    l.push((dir.clone(), embedder.clone()));
                }
                tracing::info!(
                    dir = %dir.display(),
                    ms = started.elapsed().as_millis() as u64,
                    "sentence-embedding model loaded"
                );
                Some(embedder)
            }
            Err(e) => {
                tracing::warn!(
                    dir = %dir.display(),
                    error = format!("{e:#}"),
                    "the sentence-embedding model does not load; features that need embeddings are off"
                );
                None
            }
        }
    }

    /// L2-normalised mean-pooled (attention-mask weighted) sentence embeddings, `dims()` (384)
    /// floats, one per text, in order. Truncates long inputs to 256 tokens. CPU, synchronous
    /// (async callers use `spawn_blocking`).
    pub fn embed(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.inner.pool.install(|| self.embed_batch(chunk))?);
        }
        Ok(out)
    }

    pub fn dims(&self) -> usize {
        self.inner.dims
    }

    fn embed_batch(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        let inner = &*self.inner;
        let encodings = inner
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let n = encodings.len();
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &encodings {
            anyhow::ensure!(
                e.get_ids().len() == len,
                "the tokenizer did not pad the batch"
            );
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (n, len), &inner.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &inner.device)?;
        let token_types = ids.zeros_like()?;
        // (n, len, dims)
        let hidden = inner.model.forward(&ids, &token_types, Some(&mask))?;
        // Mean over the real tokens only: padding has mask 0.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (n, dims)
        let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?; // (n, 1)
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        Ok(mean.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

/// Cosine similarity of two vectors (the dot product when both are normalised, as `embed`'s are);
/// 0 when either is all zeros. Compares the common prefix if the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    dot / (aa.sqrt() * bb.sqrt())
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::*;

    /// The installed model, loaded once for every test. Fails (never skips) when it is absent.
    fn model() -> &'static Embedder {
        static MODEL: OnceLock<Embedder> = OnceLock::new();
        MODEL.get_or_init(|| {
            let dir = Embedder::default_dir(&Settings::default());
            let missing: Vec<&str> = MODEL_FILES
                .into_iter()
                .filter(|f| !dir.join(f).is_file())
                .collect();
            assert!(
                missing.is_empty(),
                "the embedding model is not installed in {} (missing {}): run scripts/install-models \
                 (.ci/test does it)",
                dir.display(),
                missing.join(", ")
            );
            Embedder::load(&dir).expect("loading the installed embedding model")
        })
    }

    fn embed_one(text: &str) -> Vec<f32> {
        model().embed(&[text]).unwrap().remove(0)
    }

    #[test]
    fn embed_gives_one_normalised_384_vector_per_text() {
        let m = model();
        assert_eq!(m.dims(), 384);
        let texts = [
            "hello",
            "",
            "how do I reset my password",
            "a much longer message about an order that never arrived, with a tracking number \
             that stopped updating a week ago and a support ticket nobody has answered yet",
        ];
        let vs = m.embed(&texts).unwrap();
        assert_eq!(vs.len(), texts.len());
        for v in &vs {
            assert_eq!(v.len(), 384);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        }
        assert!(m.embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn embed_does_not_depend_on_the_batch() {
        // Padding must not leak into the mean: a text alone and in a batch with a longer one
        // give the same vector.
        let m = model();
        let alone = embed_one("where is my order");
        let batch = m
            .embed(&[
                "this is a considerably longer sentence that forces padding on the short one",
                "where is my order",
            ])
            .unwrap();
        assert!(
            cosine(&alone, &batch[1]) > 0.9999,
            "{}",
            cosine(&alone, &batch[1])
        );
    }

    #[test]
    fn embed_truncates_long_inputs() {
        let long = "please help me with my account ".repeat(400);
        let v = embed_one(&long);
        assert_eq!(v.len(), 384);
        // More than 32 texts go through in several passes, in order.
        let texts: Vec<String> = (0..40).map(|i| format!("message number {i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vs = model().embed(&refs).unwrap();
        assert_eq!(vs.len(), 40);
        assert!(cosine(&vs[39], &embed_one("message number 39")) > 0.9999);
    }

    #[test]
    fn embed_puts_paraphrases_closer_than_unrelated_text() {
        let human = embed_one("can I talk to a real person please");
        let agent = embed_one("I want to speak to a human agent");
        let password = embed_one("how do I reset my password");
        let (near, far) = (cosine(&human, &agent), cosine(&human, &password));
        assert!(
            near > far + 0.1,
            "human/agent {near} vs human/password {far}"
        );
    }

    #[test]
    fn embed_matches_the_reference_implementation() {
        // The first components sentence-transformers (PyTorch) gives for this sentence with
        // all-MiniLM-L6-v2: same tokens, same pooling, same normalisation.
        let v = embed_one("This is an example sentence");
        let expected = [
            0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273,
        ];
        for (i, (got, want)) in v.iter().zip(expected).enumerate() {
            assert!(
                (got - want).abs() < 1e-4,
                "component {i}: {got} vs {want}: {:?}",
                &v[..6]
            );
        }
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[-2.0, -2.0]) + 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn default_dir_prefers_the_setting() {
        let s = Settings {
            embedding_model_dir: "/opt/models/minilm".into(),
            ..Settings::default()
        };
        assert_eq!(
            Embedder::default_dir(&s),
            PathBuf::from("/opt/models/minilm")
        );
        assert!(
            Embedder::default_dir(&Settings::default()).ends_with("models/all-minilm-l6-v2"),
            "{}",
            Embedder::default_dir(&Settings::default()).display()
        );
    }

    #[test]
    fn from_settings_without_the_files_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings {
            embedding_model_dir: dir.path().to_string_lossy().into_owned(),
            ..Settings::default()
        };
        assert!(Embedder::from_settings(&s).is_none());
    }

    /// Load time and latency figures (release build):
    /// `cargo test --release --lib embed::tests::latency -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check; run it on a release build"]
    fn latency() {
        let dir = Embedder::default_dir(&Settings::default());
        let t = Instant::now();
        let m = Embedder::load(&dir).expect("run scripts/install-models");
        println!("load: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        let one = ["can I talk to a real person please"];
        let texts: Vec<String> = (0..32)
            .map(|i| {
                format!("customer message number {i}: my order has not arrived yet, can you help")
            })
            .collect();
        let batch: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (name, input) in [("1 sentence", &one[..]), ("batch of 32", &batch[..])] {
            m.embed(input).unwrap(); // warm-up
            let mut ms: Vec<f64> = (0..50)
                .map(|_| {
                    let t = Instant::now();
                    m.embed(input).unwrap();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            println!(
                "{name}: p50 {:.2} ms, p90 {:.2} ms, min {:.2} ms (50 runs)",
                ms[25], ms[45], ms[0]
            );
        }
    }
}
