//! `switchboard analytics attribute`: the attribution engine on journeys from a file, for an
//! analyst's own exports and for checking the engine against other implementations.
//! `switchboard analytics rebuild`: fold the whole log into the channel report's pre-aggregates
//! again.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};

use super::Common;
use switchboard_app::analytics::attribution::{Journey, Model, Options, Touch, attribute};
use switchboard_app::analytics::rollup::Rollup;

#[derive(Debug, clap::Subcommand)]
pub enum AnalyticsCommand {
    /// Attribute the conversions of aggregated journeys in a CSV file (the `mta` package's
    /// format: `path,total_conversions,total_conversion_value,total_null`, a path's channels
    /// separated by `>`) and print the result as JSON.
    Attribute {
        /// The CSV file.
        #[arg(long)]
        paths: PathBuf,
        /// first_touch, last_touch, linear, position_based, time_decay, markov, shapley.
        #[arg(long, default_value = "markov")]
        model: String,
        /// The Markov chain's order, 1 to 3.
        #[arg(long, default_value_t = 1)]
        order: usize,
        /// Keep repeats of a channel in a row as separate touches.
        #[arg(long)]
        keep_repeats: bool,
        /// Bootstrap resamples for the interval of a data-driven model.
        #[arg(long, default_value_t = 200)]
        resamples: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Empty the channel report's pre-aggregates and fold the whole interaction log into them
    /// again. The result equals what the server folded as interactions arrived; run it after
    /// restoring a backup or changing how messages are counted. Safe beside a running server.
    Rebuild {
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(command: AnalyticsCommand) -> anyhow::Result<()> {
    match command {
        AnalyticsCommand::Attribute {
            paths,
            model,
            order,
            keep_repeats,
            resamples,
            seed,
        } => attribute_file(paths, &model, order, keep_repeats, resamples, seed),
        AnalyticsCommand::Rebuild { common } => rebuild(common).await,
    }
}

async fn rebuild(common: Common) -> anyhow::Result<()> {
    let store = common.open_store().await?;
    let started = Instant::now();
    let folded = Rollup::new(store.clone()).rebuild().await?;
    // The rebuild rewrote whole tables through the write-ahead log: fold it into the database.
    store.checkpoint().await?;
    let report = serde_json::json!({
        "interactions": folded.events,
        "messages": folded.messages,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{report}");
    Ok(())
}

fn attribute_file(
    paths: PathBuf,
    model: &str,
    order: usize,
    keep_repeats: bool,
    resamples: usize,
    seed: u64,
) -> anyhow::Result<()> {
    if !(1..=3).contains(&order) {
        bail!("--order is 1, 2 or 3");
    }
    let model = Model::parse(model, None, Some(order)).with_context(|| {
        format!(
            "unknown model {model:?}: first_touch, last_touch, linear, position_based, \
             time_decay, markov, shapley"
        )
    })?;
    let text = std::fs::read_to_string(&paths)
        .with_context(|| format!("cannot read {}", paths.display()))?;
    let journeys = read_journeys(&text).with_context(|| format!("in {}", paths.display()))?;
    let options = Options {
        model,
        merge_repeats: !keep_repeats,
        resamples,
        seed,
    };
    println!(
        "{}",
        serde_json::to_string(&attribute(&journeys, &options))?
    );
    Ok(())
}

/// Journeys from the CSV text: a header naming the columns, then one journey per line.
fn read_journeys(text: &str) -> anyhow::Result<Vec<Journey>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .context("the file is empty")?
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(path), Some(conversions), Some(nulls)) = (
        column("path"),
        column("total_conversions"),
        column("total_null"),
    ) else {
        bail!("the header must name path, total_conversions and total_null");
    };
    let value = column("total_conversion_value");
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != header.len() {
                bail!(
                    "line {}: {} fields, the header has {}",
                    i + 2,
                    fields.len(),
                    header.len()
                );
            }
            let number = |at: usize, name: &str| -> anyhow::Result<f64> {
                let n: f64 = fields[at]
                    .parse()
                    .with_context(|| format!("line {}: {name} is not a number", i + 2))?;
                if !n.is_finite() || n < 0.0 {
                    bail!("line {}: {name} must be a number of at least 0", i + 2);
                }
                Ok(n)
            };
            Ok(Journey {
                touches: fields[path]
                    .split('>')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Touch {
                        channel: c.into(),
                        at: None,
                    })
                    .collect(),
                conversions: number(conversions, "total_conversions")?,
                nulls: number(nulls, "total_null")?,
                value: value.map_or(Ok(0.0), |at| number(at, "total_conversion_value"))?,
                converted_at: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mta_s_format_and_names_the_line_at_fault() {
        let text = "path,total_conversions,total_conversion_value,total_null\n\
                    a > b > a,2,3.5,6\n\nb,0,0,1\n";
        let journeys = read_journeys(text).unwrap();
        assert_eq!(journeys.len(), 2);
        let channels: Vec<&str> = journeys[0].touches.iter().map(|t| &*t.channel).collect();
        assert_eq!(channels, ["a", "b", "a"]);
        assert_eq!(
            (
                journeys[0].conversions,
                journeys[0].value,
                journeys[0].nulls
            ),
            (2.0, 3.5, 6.0)
        );

        let bad = "path,total_conversions,total_null\na,x,1\n";
        let error = format!("{:#}", read_journeys(bad).unwrap_err());
        assert!(error.contains("line 2: total_conversions"), "{error}");
        assert!(read_journeys("path,conversions\n").is_err());
    }
}
