//! `switchboard kb import DIR`: every `*.md` file of a folder (front matter as in
//! `kb::frontmatter`) becomes an article, matched by slug, so importing twice changes nothing
//! and an edited file updates its article. Shows a progress bar.
use std::path::{Path, PathBuf};

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::{
    frontmatter,
    service::{self, ArticleInput, Upserted},
};

#[derive(Debug, Default)]
pub struct ImportStats {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: Vec<String>,
}

/// The Markdown files of `dir`, sorted by name.
pub fn markdown_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("md")))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads one file into an article (slug from the front matter, else the file name).
pub fn read_article(path: &Path) -> anyhow::Result<ArticleInput> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let p = frontmatter::parse(&text);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok(ArticleInput {
        slug: Some(p.slug.unwrap_or_else(|| service::slugify(&stem))),
        title: p.title.unwrap_or(stem),
        body: p.body,
        tags: p.tags,
        url: p.url,
    })
}

pub async fn import_dir(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    dir: &Path,
    progress: bool,
) -> anyhow::Result<ImportStats> {
    let files = markdown_files(dir)?;
    let bar = if progress {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} articles {msg}")
    {
        bar.set_style(style);
    }
    let mut stats = ImportStats::default();
    for f in &files {
        bar.set_message(
            f.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        );
        let res = match read_article(f) {
            Ok(a) => service::upsert(db, account_id, a)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display())),
            Err(e) => Err(e),
        };
        match res {
            Ok(Upserted::Created) => stats.created += 1,
            Ok(Upserted::Updated) => stats.updated += 1,
            Ok(Upserted::Unchanged) => stats.unchanged += 1,
            Err(e) => stats.errors.push(e.to_string()),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(stats)
}
