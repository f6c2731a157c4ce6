//! The SVG chart of throughput (plotters).

use plotters::prelude::*;

use super::Report;

impl Report {
    /// Throughput in MB/s per workload, karst beside the peer, with the
    /// machine's ceilings as lines.
    pub(crate) fn svg(&self) -> anyhow::Result<String> {
        const BARS: &[(&str, &str, f64)] = &[
            ("w1_p1_mbps", "W1 1p", 1e6),
            ("w1_p8_mbps", "W1 8p", 1e6),
            ("w2_p1_mbps", "W2 1p", 1e6),
            ("w2_p8_mbps", "W2 8p", 1e6),
            ("w3_p1_records_per_s", "W3 1p", 100.0),
            ("w3_p8_records_per_s", "W3 8p", 100.0),
            ("w4_p1_mbps", "W4 1p", 1e6),
            ("w4_p8_mbps", "W4 8p", 1e6),
            ("w8_p1_mbps", "W8 1p", 1e6),
            ("w8_p8_mbps", "W8 8p", 1e6),
        ];
        let value = |target: &str, key: &str, bytes: f64| {
            self.medians
                .get(target)
                .and_then(|m| m.get(key))
                .map_or(0.0, |v| v * bytes / 1e6)
        };
        let has_peer = self.medians.contains_key("peer");
        let tcp = self
            .ceilings
            .get("loopback_tcp_mbps")
            .copied()
            .unwrap_or(0.0);
        let sync = self
            .ceilings
            .get("fdatasync_write_mbps")
            .copied()
            .unwrap_or(0.0);
        let top = BARS
            .iter()
            .flat_map(|(k, _, b)| [value("karst", k, *b), value("peer", k, *b)])
            .chain([tcp, sync])
            .fold(1.0_f64, f64::max)
            * 1.1;
        let n = BARS.len() as f64;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (900, 480)).into_drawing_area();
            root.fill(&WHITE)?;
            let caption = format!(
                "Throughput, MB/s (median{}){}",
                if self.quick { ", quick sizes" } else { "" },
                if has_peer {
                    ": karst blue, peer grey"
                } else {
                    ": karst"
                }
            );
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..n, 0.0..top)?;
            let label_of = |x: &f64| {
                let i = x.floor();
                if (x - i - 0.5).abs() < 1e-6 && i >= 0.0 && (i as usize) < BARS.len() {
                    BARS[i as usize].1.to_owned()
                } else {
                    String::new()
                }
            };
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(2 * BARS.len() + 1)
                .x_label_formatter(&label_of)
                .y_label_formatter(&|y| format!("{y:.0}"))
                .y_desc("MB/s")
                .draw()?;
            let blue = RGBColor(42, 111, 219);
            let grey = RGBColor(150, 150, 150);
            let width = if has_peer { 0.38 } else { 0.7 };
            chart
                .draw_series(BARS.iter().enumerate().map(|(i, (k, _, b))| {
                    let x = i as f64 + 0.5 - if has_peer { width } else { width / 2.0 };
                    Rectangle::new(
                        [(x, 0.0), (x + width, value("karst", k, *b))],
                        blue.filled(),
                    )
                }))?
                .label("karst")
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], blue.filled()));
            if has_peer {
                chart
                    .draw_series(BARS.iter().enumerate().map(|(i, (k, _, b))| {
                        let x = i as f64 + 0.5;
                        Rectangle::new([(x, 0.0), (x + width, value("peer", k, *b))], grey.filled())
                    }))?
                    .label("peer")
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], grey.filled())
                    });
            }
            let labels = ["karst", "peer"].into_iter().flat_map(|target| {
                let offset = match (has_peer, target) {
                    (false, _) => 0.0,
                    (true, "karst") => -width / 2.0,
                    (true, _) => width / 2.0,
                };
                BARS.iter().enumerate().filter_map(move |(i, (k, _, b))| {
                    let v = value(target, k, *b);
                    (v > 0.0).then(|| {
                        Text::new(
                            format!("{v:.0}"),
                            (i as f64 + 0.5 + offset - 0.12, v + top * 0.035),
                            ("sans-serif", 12),
                        )
                    })
                })
            });
            chart.draw_series(labels)?;
            for (c, name, color) in [
                (tcp, "loopback TCP", RGBColor(46, 160, 67)),
                (sync, "fdatasync write", RGBColor(214, 39, 40)),
            ] {
                chart
                    .draw_series(LineSeries::new([(0.0, c), (n, c)], color.stroke_width(2)))?
                    .label(format!("{name} ceiling {c:.0} MB/s"))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 12, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()?;
            root.present()?;
        }
        Ok(svg)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::report;

    #[test]
    fn chart_is_an_svg_with_labels_and_ceilings() {
        let svg = report(true).svg().unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "W1 1p",
            "W4 8p",
            "karst",
            "peer",
            "loopback TCP ceiling 1000 MB/s",
        ] {
            assert!(svg.contains(text), "{text} missing from {svg}");
        }
    }
}
