//! One scrape of a Prometheus text exposition (`/metrics`), and what the
//! readiness report computes from it: sums, maxima and histogram quantiles
//! as PromQL would over the counters' whole life (since the host started).

use std::collections::BTreeMap;

/// A series selector: a metric name and, per label, the values admitted
/// (PromQL `{label=~"a|b"}`).
#[derive(Debug, Clone, Copy)]
pub struct Sel {
    pub metric: &'static str,
    pub labels: &'static [(&'static str, &'static [&'static str])],
}

impl Sel {
    pub const fn all(metric: &'static str) -> Self {
        Self {
            metric,
            labels: &[],
        }
    }

    /// The PromQL selector of the series `metric` + `suffix`.
    pub fn promql(&self, suffix: &str) -> String {
        let matchers: Vec<String> = self
            .labels
            .iter()
            .map(|(l, values)| format!("{l}=~\"{}\"", values.join("|")))
            .collect();
        format!("{}{suffix}{{{}}}", self.metric, matchers.join(","))
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels
            .iter()
            .all(|(l, values)| labels.get(*l).is_some_and(|v| values.contains(&v.as_str())))
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of one exposition.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Parses the text format (comments and unparseable lines are skipped).
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(parse_line)
            .collect();
        Self { samples }
    }

    /// The names of every series (without labels).
    pub fn names(&self) -> std::collections::BTreeSet<&str> {
        self.samples.iter().map(|s| s.name.as_str()).collect()
    }

    fn matching<'a>(&'a self, sel: &'a Sel, suffix: &'a str) -> impl Iterator<Item = &'a Sample> {
        let name = format!("{}{suffix}", sel.metric);
        self.samples
            .iter()
            .filter(move |s| s.name == name && sel.matches(&s.labels))
    }

    /// The sum of the matching series (`None`: no such series).
    pub fn sum(&self, sel: &Sel, suffix: &str) -> Option<f64> {
        self.matching(sel, suffix)
            .map(|s| s.value)
            .reduce(|a, b| a + b)
    }

    /// The largest of the matching series (`None`: no such series).
    pub fn max(&self, sel: &Sel) -> Option<f64> {
        self.matching(sel, "").map(|s| s.value).reduce(f64::max)
    }

    /// `histogram_quantile(q, sum by (le) (…_bucket{sel}))`.
    pub fn quantile(&self, q: f64, sel: &Sel) -> Option<f64> {
        let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        for s in self.matching(sel, "_bucket") {
            let le = match s.labels.get("le").map(String::as_str) {
                Some("+Inf") => f64::INFINITY,
                Some(le) => le.parse().ok()?,
                None => continue,
            };
            buckets.entry(le.to_bits()).or_insert((le, 0.0)).1 += s.value;
        }
        let mut sorted: Vec<(f64, f64)> = buckets.into_values().collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        quantile_of(q, &sorted)
    }
}

/// The quantile of cumulative `(le, count)` buckets, as Prometheus
/// interpolates it (the highest finite bound when it falls in `+Inf`).
pub fn quantile_of(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (i, &(le, count)) in buckets.iter().enumerate() {
        if count >= rank {
            if le.is_infinite() {
                return Some(buckets[i.checked_sub(1)?].0);
            }
            return Some(lower + (le - lower) * (rank - below) / (count - below));
        }
        (lower, below) = (le, count);
    }
    None
}

fn parse_line(line: &str) -> Option<Sample> {
    let (series, rest) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..close + 1], &line[close + 1..])
        }
        None => line.split_at(line.find(' ')?),
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}')?)?),
        None => (series, BTreeMap::new()),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y\"z"` into a map.
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = text.trim_start_matches(',');
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let (value, used) = unescape_until_quote(after)?;
        labels.insert(key.trim().to_owned(), value);
        rest = after[used..].trim_start_matches(',');
    }
    Some(labels)
}

/// The label value up to its closing quote, and the bytes consumed.
fn unescape_until_quote(text: &str) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, i + 1)),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_escapes_and_quantiles_over_selected_series_read_as_prometheus_reads_them() {
        let text = "# TYPE x histogram\n\
            x_bucket{tier=\"local\",le=\"0.02\"} 9\nx_bucket{tier=\"local\",le=\"+Inf\"} 10\n\
            x_bucket{tier=\"postgres\",le=\"0.02\"} 0\nx_bucket{tier=\"postgres\",le=\"+Inf\"} 10\n\
            y{route=\"/a \\\"b\\\"\"} 3\ny 4\n";
        let scrape = Scrape::parse(text);
        let local = Sel {
            metric: "x",
            labels: &[("tier", &["local"])],
        };
        assert_eq!(scrape.quantile(0.5, &local), Some(0.02 * 5.0 / 9.0));
        assert_eq!(scrape.quantile(0.95, &Sel::all("x")), Some(0.02));
        assert_eq!(scrape.sum(&Sel::all("y"), ""), Some(7.0));
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.labels.get("route").map(String::as_str) == Some("/a \"b\""))
        );
        assert_eq!(local.promql("_bucket"), "x_bucket{tier=~\"local\"}");
    }
}
