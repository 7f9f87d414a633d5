// report.h — what a run's metrics.jsonl says: a summary (final and best
// figures, throughput) and PNG charts drawn by gnuplot (loss and validation
// loss; expert-load imbalance MaxVio per MoE layer). Used by `deepc pretrain`
// (RUN/report.md) and `deepc speedrun`.
#pragma once
#include <stdint.h>

typedef struct {
    int64_t steps;               // last step logged
    uint64_t tokens;             // tokens trained on
    double last_loss, first_loss;            // mean of the last / first 10 step losses
    double last_val_loss, last_val_bpb, best_val_bpb;   // NaN when never measured
    double tok_per_s, mfu;       // medians over the steps
    double elapsed_s;
    double last_maxvio;          // mean over MoE layers of MaxVio, averaged over the last 10 steps (NaN: no MoE)
    int n_moe_layers;
    int64_t skipped;             // steps skipped for NaN/Inf
} MetricsSummary;

int report_summarize(const char *metrics_path, MetricsSummary *s);
// Draw out_dir/loss.png and out_dir/expert_load.png (gnuplot). *loss_png /
// *load_png say which exist afterwards; a missing gnuplot is not an error
// (the report then says so).
int report_charts(const char *metrics_path, const char *out_dir, int *loss_png, int *load_png);
// RUN/report.md for a pre-training run: summary table, charts, samples.md if present.
int report_write_run(const char *run_dir, const char *title);
