// curate.c — `deepc curate`: clean, deduplicate, filter and decontaminate documents.
//   deepc curate --input PATHS... --out DIR [--config curate.json] [--strict] [--threads N]
//   deepc curate classify train|apply ...   (cli/curate_classify.c)
#include "base/args.h"
#include "base/check.h"
#include "base/progress.h"
#include "cli/cli.h"
#include "base/io.h"
#include "base/json.h"
#include "curate/audit.h"
#include "curate/bias.h"
#include "curate/chains.h"
#include "curate/classify.h"
#include "curate/curate.h"
#include "curate/ingest.h"
#include "curate/mix.h"
#include "curate/refine.h"
#include "curate/writer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: deepc curate --input PATH [PATH...] --out DIR [options]\n"
    "       deepc curate classify train|apply|eval|refine ...   (deepc curate classify --help)\n"
    "       deepc curate audit sample|apply|bias ...             (deepc curate audit --help)\n"
    "       deepc curate mix --input FILE... --out DIR --weights code=0.6,text=0.4 ...\n"
    "       deepc curate chains --input RECORDS.jsonl --out DIR ...   (deepc curate chains --help)\n\n"
    "Runs ingest -> normalize -> exact dedup -> quality filters -> PII -> decontamination ->\n"
    "near-dedup (MinHash-LSH) and writes DIR/data.jsonl[.zst], DIR/removed.jsonl[.zst],\n"
    "DIR/report.md and DIR/report.json. Inputs: folders (walked recursively), text and code\n"
    "files, JSONL and JSONL.zst. Bad input is reported and skipped unless --strict.";

// Split a comma-separated list into a NULL-terminated array (strings point into a copy).
static const char **split_list(const char *s, int *n) {
    char *c = xstrdup(s);
    int cap = 8; *n = 0;
    const char **v = xmalloc(cap * sizeof(char *));
    for (char *tok = strtok(c, ","); tok; tok = strtok(NULL, ",")) {
        if (*n + 1 >= cap) { cap *= 2; v = xrealloc(v, cap * sizeof(char *)); }
        v[(*n)++] = tok;
    }
    v[*n] = NULL;
    return v;
}

static const char *CLS_USAGE =
    "usage: deepc curate classify train  --input LABELLED.jsonl --model M.bin [options]\n"
    "       deepc curate classify apply  --model M.bin --input IN.jsonl[.zst] --out OUT.jsonl[.zst] [--field NAME]\n"
    "       deepc curate classify eval   --model M.bin --input LABELLED.jsonl\n"
    "       deepc curate classify refine --seeds POS.jsonl --pool POOL.jsonl --heldout LABELLED.jsonl\n"
    "                                    --positive LABEL --model M.bin [--rounds 4] [--top 1000]\n\n"
    "A fastText-style linear classifier (hashed word and character n-grams, softmax, SGD).\n"
    "apply adds \"NAME\" (the predicted label) and \"NAME_score\" (its probability) to every record.\n"
    "refine runs DeepSeekMath-style rounds: train on positives vs random pool documents, add the\n"
    "top-scored pool documents to the positives, report held-out precision/recall per round.";

static void bad_input_print(void *ctx, const char *file, long line, const char *msg) {
    (void)ctx;
    if (line) fprintf(stderr, "deepc: warning: %s:%ld: %s\n", file, line, msg);
    else fprintf(stderr, "deepc: warning: %s: %s\n", file, msg);
}

static int classify_apply(const char *model, const char *in, const char *out, const char *field, const char *text_field) {
    Classifier m;
    TRY(classifier_load(&m, model));
    const char *paths[1] = {in};
    Ingest *g = ingest_open(paths, 1, text_field, (size_t)64 << 20, bad_input_print, NULL);
    DocWriter w;
    if (writer_open(&w, out) < 0) { ingest_close(g); classifier_free(&m); return -1; }
    ClassifyScratch sc = {0};
    float *p = xmalloc(m.nlabels * sizeof(float));
    char key[128];
    snprintf(key, sizeof key, "%s_score", field);
    Doc d;
    int r, rc = 0;
    size_t n = 0;
    while ((r = ingest_next(g, &d)) == 1) {
        int best = classifier_predict(&m, &sc, d.text, d.len, p);
        cJSON *o = d.meta ? d.meta : cJSON_CreateObject();
        d.meta = NULL;
        cJSON_AddItemToObject(o, text_field, cJSON_CreateString(d.text));
        cJSON_DeleteItemFromObjectCaseSensitive(o, field);
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);
        cJSON_AddStringToObject(o, field, m.labels[best]);
        cJSON_AddNumberToObject(o, key, p[best]);
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        doc_free(&d);
        if (writer_write(&w, line, strlen(line)) < 0 || writer_write(&w, "\n", 1) < 0) { free(line); rc = -1; break; }
        free(line);
        n++;
    }
    if (r < 0) rc = -1;
    if (rc == 0) rc = writer_commit(&w); else writer_abort(&w);
    if (rc == 0) fprintf(stderr, "classify: labelled %zu documents into %s\n", n, out);
    free(p);
    classify_scratch_free(&sc);
    ingest_close(g);
    classifier_free(&m);
    return rc;
}

static int classify_eval(const char *model, const char *in, const char *text_field, const char *label_field) {
    Classifier m;
    TRY(classifier_load(&m, model));
    LabelledSet s = {0};
    if (labelled_load(&s, in, text_field, label_field) < 0) { classifier_free(&m); return -1; }
    int L = m.nlabels;
    size_t *tp = xcalloc(L, sizeof(size_t)), *fp = xcalloc(L, sizeof(size_t)), *fn = xcalloc(L, sizeof(size_t)), ok = 0;
    float *p = xmalloc(L * sizeof(float));
    ClassifyScratch sc = {0};
    for (size_t i = 0; i < s.n; i++) {
        int pred = classifier_predict(&m, &sc, s.texts[i], s.lens[i], p);
        int truth = classifier_label_index(&m, s.labels[i]);
        if (pred == truth) { ok++; tp[pred]++; }
        else { fp[pred]++; if (truth >= 0) fn[truth]++; }
    }
    printf("accuracy %.4f on %zu documents\n", s.n ? (double)ok / s.n : 0, s.n);
    for (int l = 0; l < L; l++)
        printf("  %-16s precision %.4f recall %.4f\n", m.labels[l], tp[l] + fp[l] ? (double)tp[l] / (tp[l] + fp[l]) : 0,
               tp[l] + fn[l] ? (double)tp[l] / (tp[l] + fn[l]) : 0);
    free(tp); free(fp); free(fn); free(p);
    classify_scratch_free(&sc);
    labelled_free(&s);
    classifier_free(&m);
    return 0;
}

static int cmd_curate_classify(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "train") && strcmp(argv[1], "apply") && strcmp(argv[1], "eval") && strcmp(argv[1], "refine"))) {
        fprintf(stderr, "%s\n", CLS_USAGE);
        return argc < 2 ? 2 : (!strcmp(argv[1], "--help") ? 0 : 2);
    }
    const char *sub = argv[1];
    Opt opts[] = {
        {"--input", "FILE", "JSONL input", NULL, NULL, 0},
        {"--model", "FILE", "model file", NULL, NULL, 0},
        {"--out", "FILE", "output JSONL (apply)", NULL, NULL, 0},
        {"--field", "NAME", "field for the predicted label (apply)", "domain", NULL, 0},
        {"--text-field", "NAME", "JSONL text field", "text", NULL, 0},
        {"--label-field", "NAME", "JSONL label field", "label", NULL, 0},
        {"--epochs", "N", "training epochs", "5", NULL, 0},
        {"--dim", "N", "embedding size", "32", NULL, 0},
        {"--buckets", "N", "hashed feature rows", "262144", NULL, 0},
        {"--lr", "X", "learning rate", "0.5", NULL, 0},
        {"--seed", "N", "random seed", "1", NULL, 0},
        {"--seeds", "FILE", "seed positives (refine)", NULL, NULL, 0},
        {"--pool", "FILE", "unlabelled pool (refine)", NULL, NULL, 0},
        {"--heldout", "FILE", "labelled held-out set (refine)", NULL, NULL, 0},
        {"--positive", "LABEL", "the positive label in --heldout (refine)", NULL, NULL, 0},
        {"--rounds", "N", "refinement rounds", "4", NULL, 0},
        {"--top", "N", "pool documents added per round", "1000", NULL, 0},
        {"--report", "FILE", "write the per-round numbers as JSON (refine)", NULL, NULL, 0},
    };
    int no = sizeof opts / sizeof *opts;
    args_parse(argc - 1, argv + 1, opts, no, CLS_USAGE, NULL, NULL);
    const char *model = opt_str(opts, no, "--model"), *in = opt_str(opts, no, "--input");
    const char *tf = opt_str(opts, no, "--text-field"), *lf = opt_str(opts, no, "--label-field");
    if (!model) fatal("--model is required");
    ClassifierConfig c;
    classifier_default_config(&c);
    c.epochs = (int)opt_int(opts, no, "--epochs"); c.dim = (int)opt_int(opts, no, "--dim");
    c.buckets = (int)opt_int(opts, no, "--buckets"); c.lr = (float)opt_num(opts, no, "--lr");
    c.seed = (uint64_t)opt_int(opts, no, "--seed");
    if (c.epochs < 1 || c.dim < 1 || c.dim > 512 || c.buckets < 1 || c.lr <= 0) fatal("need --epochs >= 1, 1 <= --dim <= 512, --buckets >= 1, --lr > 0");
    if (!strcmp(sub, "apply")) {
        const char *out = opt_str(opts, no, "--out");
        if (!in || !out) fatal("apply needs --input and --out");
        if (classify_apply(model, in, out, opt_str(opts, no, "--field"), tf) < 0) fatal_last();
        return 0;
    }
    if (!strcmp(sub, "eval")) {
        if (!in) fatal("eval needs --input");
        if (classify_eval(model, in, tf, lf) < 0) fatal_last();
        return 0;
    }
    if (!strcmp(sub, "train")) {
        if (!in) fatal("train needs --input");
        LabelledSet s = {0};
        if (labelled_load(&s, in, tf, lf) < 0) fatal_last();
        int nl;
        const char **names = labelled_label_names(&s, &nl);
        if (nl < 2) fatal("%s: needs at least two distinct labels in \"%s\"", in, lf);
        int *y = xmalloc(s.n * sizeof(int));
        for (size_t i = 0; i < s.n; i++) for (int l = 0; l < nl; l++) if (!strcmp(s.labels[i], names[l])) y[i] = l;
        Classifier m;
        double t0 = now_seconds();
        double loss = classifier_train(&m, &c, (const char *const *)s.texts, s.lens, y, s.n, names, nl);
        if (classifier_save(&m, model) < 0) fatal_last();
        fprintf(stderr, "classify: trained on %zu documents, %d labels, last-epoch loss %.4f, %.1f s; wrote %s\n",
                s.n, nl, loss, now_seconds() - t0, model);
        classifier_free(&m); free(y); free(names); labelled_free(&s);
        return 0;
    }
    // refine
    const char *sp = opt_str(opts, no, "--seeds"), *pp = opt_str(opts, no, "--pool"), *hp = opt_str(opts, no, "--heldout");
    const char *pos = opt_str(opts, no, "--positive");
    if (!sp || !pp || !hp || !pos) fatal("refine needs --seeds, --pool, --heldout and --positive");
    LabelledSet seeds = {0}, pool = {0}, held = {0};
    if (labelled_load(&seeds, sp, tf, NULL) < 0 || labelled_load(&pool, pp, tf, NULL) < 0 || labelled_load(&held, hp, tf, lf) < 0) fatal_last();
    int rounds = (int)opt_int(opts, no, "--rounds");
    if (rounds < 1 || rounds > 100) fatal("--rounds must be 1..100");
    RefineRound *rr = xcalloc(rounds, sizeof(RefineRound));
    Classifier m;
    if (refine_run(&c, &seeds, &pool, &held, pos, rounds, (size_t)opt_int(opts, no, "--top"), rr, &m) < 0) fatal_last();
    cJSON *rep = cJSON_CreateArray();
    for (int k = 0; k < rounds; k++) {
        printf("round %d: %zu positives, held-out precision %.4f recall %.4f, added %zu\n", rr[k].round, rr[k].positives,
               rr[k].precision, rr[k].recall, rr[k].added);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "round", rr[k].round);
        cJSON_AddNumberToObject(e, "positives", (double)rr[k].positives);
        cJSON_AddNumberToObject(e, "precision", rr[k].precision);
        cJSON_AddNumberToObject(e, "recall", rr[k].recall);
        cJSON_AddNumberToObject(e, "added", (double)rr[k].added);
        cJSON_AddItemToArray(rep, e);
    }
    const char *rp = opt_str(opts, no, "--report");
    if (rp && json_save_file(rp, rep) < 0) fatal_last();
    if (classifier_save(&m, model) < 0) fatal_last();
    cJSON_Delete(rep); free(rr); classifier_free(&m);
    labelled_free(&seeds); labelled_free(&pool); labelled_free(&held);
    return 0;
}

static const char *AUDIT_USAGE =
    "usage: deepc curate audit sample --dir CURATED --sheet SHEET.jsonl [--per-stratum 20] [--seed N]\n"
    "       deepc curate audit apply  --dir CURATED --sheet SHEET.jsonl|SHEET.csv --reviewer NAME\n"
    "       deepc curate audit bias   --dir CURATED [--terms TERMS.json]\n\n"
    "sample draws up to N documents per removal rule and per kept domain from CURATED/data.jsonl and\n"
    "CURATED/removed.jsonl into a review sheet (JSONL, plus a CSV twin). Fill \"decision\" with keep,\n"
    "drop or relabel (with \"label\"), and \"note\". apply moves / relabels exactly those documents\n"
    "and appends who, when, why and what changed to CURATED/ledger.jsonl. bias counts term lists\n"
    "({\"list\": [\"term\", ...]}; default: male, female, occupation) per domain with co-occurrence\n"
    "lift into CURATED/bias.json and CURATED/bias.md.";

static int cmd_curate_audit(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "sample") && strcmp(argv[1], "apply") && strcmp(argv[1], "bias"))) {
        fprintf(stderr, "%s\n", AUDIT_USAGE);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    Opt opts[] = {
        {"--dir", "DIR", "output folder of deepc curate", NULL, NULL, 0},
        {"--sheet", "FILE", "review sheet", NULL, NULL, 0},
        {"--per-stratum", "N", "rows per rule / kept domain (sample)", "20", NULL, 0},
        {"--seed", "N", "sampling seed", "1", NULL, 0},
        {"--reviewer", "NAME", "who reviewed the sheet (apply)", NULL, NULL, 0},
        {"--terms", "FILE", "term lists as JSON (bias)", NULL, NULL, 0},
    };
    int no = sizeof opts / sizeof *opts;
    args_parse(argc - 1, argv + 1, opts, no, AUDIT_USAGE, NULL, NULL);
    const char *dir = opt_str(opts, no, "--dir"), *sheet = opt_str(opts, no, "--sheet");
    if (!strcmp(argv[1], "bias")) {
        if (!dir) fatal("--dir is required");
        char *dp = path_join(dir, "data.jsonl"), *op = path_join(dir, "bias");
        if (bias_report(dp, opt_str(opts, no, "--terms"), op) < 0) fatal_last();
        fprintf(stderr, "audit: wrote %s.json and %s.md\n", op, op);
        free(dp); free(op);
        return 0;
    }
    if (!dir || !sheet) fatal("--dir and --sheet are required");
    if (!strcmp(argv[1], "sample")) {
        size_t rows;
        long long per = opt_int(opts, no, "--per-stratum");
        if (per < 1 || per > 1000000) fatal("--per-stratum must be 1..1000000");
        if (audit_sample(dir, sheet, (int)per, (uint64_t)opt_int(opts, no, "--seed"), &rows) < 0) fatal_last();
        fprintf(stderr, "audit: %zu rows in %s (and .csv)\n", rows, sheet);
        return 0;
    }
    const char *who = opt_str(opts, no, "--reviewer");
    if (!who) fatal("apply needs --reviewer NAME (recorded in the ledger)");
    AuditCounts c;
    if (audit_apply(dir, sheet, who, &c) < 0) fatal_last();
    fprintf(stderr, "audit: %zu decisions: %zu dropped, %zu restored, %zu relabelled, %zu unchanged; ledger %s/ledger.jsonl\n",
            c.rows, c.kept_to_removed, c.removed_to_kept, c.relabelled, c.unchanged, dir);
    return 0;
}

static const char *MIX_USAGE =
    "usage: deepc curate mix --input FILE [FILE...] --out DIR --weights code=0.6,text=0.3,math=0.1\n"
    "                        [--total-mb X] [--max-epochs 4] [--score-field NAME] [--seed N] [--compress]\n\n"
    "Samples documents (JSONL \"domain\" field) so that bytes per domain follow the weights: domains\n"
    "are repeated (at most --max-epochs copies of a document) or down-sampled. Writes\n"
    "DIR/mixture.jsonl with a numeric \"score\" per document for the curriculum (--score-field, or\n"
    "lexical diversity) and DIR/manifest.json with the achieved shares and epochs.";

static int cmd_curate_mix(int argc, char **argv) {
    Opt opts[] = {
        {"--input", "FILE", "JSONL(.zst) input (more files may follow)", NULL, NULL, 0},
        {"--out", "DIR", "output folder", NULL, NULL, 0},
        {"--weights", "SPEC", "domain=weight,...", NULL, NULL, 0},
        {"--total-mb", "X", "mixture size in MB of text (0 = largest the epoch caps allow)", "0", NULL, 0},
        {"--max-epochs", "X", "most copies of one document", "4", NULL, 0},
        {"--score-field", "NAME", "numeric JSONL field used as the curriculum score", NULL, NULL, 0},
        {"--text-field", "NAME", "JSONL text field", "text", NULL, 0},
        {"--seed", "N", "sampling seed", "1", NULL, 0},
        {"--compress", NULL, "write mixture.jsonl.zst", NULL, NULL, 0},
    };
    int no = sizeof opts / sizeof *opts;
    char *pos[4096]; int npos = 4096;
    args_parse(argc, argv, opts, no, MIX_USAGE, pos, &npos);
    MixOptions m;
    mix_default_options(&m);
    const char *in = opt_str(opts, no, "--input"), *w = opt_str(opts, no, "--weights");
    m.out_dir = opt_str(opts, no, "--out");
    if (!in || !w || !m.out_dir) fatal("--input, --out and --weights are required");
    const char **inputs = xcalloc(npos + 2, sizeof(char *));
    inputs[0] = in;
    for (int i = 0; i < npos; i++) inputs[i + 1] = pos[i];
    m.inputs = inputs; m.n_inputs = npos + 1;
    if (mix_parse_weights(&m, w) < 0) fatal_last();
    m.total_bytes = opt_num(opts, no, "--total-mb") * 1e6;
    m.max_epochs = opt_num(opts, no, "--max-epochs");
    m.score_field = opt_str(opts, no, "--score-field");
    m.text_field = opt_str(opts, no, "--text-field");
    m.seed = (uint64_t)opt_int(opts, no, "--seed");
    m.compress = opt_flag(opts, no, "--compress");
    if (mix_run(&m) < 0) fatal_last();
    fprintf(stderr, "mix: wrote %s/mixture.jsonl%s and %s/manifest.json\n", m.out_dir, m.compress ? ".zst" : "", m.out_dir);
    free(inputs);
    return 0;
}

static const char *CHAINS_USAGE =
    "usage: deepc curate chains --input RECORDS.jsonl --out DIR [options]\n\n"
    "Checks (question, chain, answer) records. Math (GSM8K format, \"#### answer\" at the end of the\n"
    "chain): the final answer must be a number (equal to --reference-field within --tolerance when\n"
    "given) and every <<expression=value>> calculation must hold. Code (MBPP or HumanEval records):\n"
    "the tests run in python3 in a sandboxed subprocess with --timeout and --mem-mb limits.\n"
    "Scores structure (steps, words, repetition), filters, and writes DIR/data.jsonl, DIR/removed.jsonl,\n"
    "DIR/report.json and DIR/audit_sheet.jsonl (for deepc curate audit apply --dir DIR).";

static int cmd_curate_chains(int argc, char **argv) {
    Opt opts[] = {
        {"--input", "FILE", "JSONL records", NULL, NULL, 0},
        {"--out", "DIR", "output folder", NULL, NULL, 0},
        {"--question-field", "NAME", "question field", "question", NULL, 0},
        {"--chain-field", "NAME", "chain field (with #### answer)", "answer", NULL, 0},
        {"--reference-field", "NAME", "reference answer field (numeric)", NULL, NULL, 0},
        {"--tolerance", "X", "numeric tolerance (relative, absolute below 1)", "1e-6", NULL, 0},
        {"--min-steps", "N", "fewest chain steps kept", "1", NULL, 0},
        {"--max-repetition", "X", "largest share of repeated lines kept", "0.5", NULL, 0},
        {"--timeout", "S", "code: seconds per record", "10", NULL, 0},
        {"--mem-mb", "N", "code: address-space limit in MB", "1024", NULL, 0},
        {"--python", "PATH", "code: interpreter", "python3", NULL, 0},
        {"--audit-sample", "N", "rows per stratum in DIR/audit_sheet.jsonl (0 = none)", "20", NULL, 0},
        {"--seed", "N", "audit sampling seed", "1", NULL, 0},
    };
    int no = sizeof opts / sizeof *opts;
    args_parse(argc, argv, opts, no, CHAINS_USAGE, NULL, NULL);
    ChainOptions c;
    chains_default_options(&c);
    c.input = opt_str(opts, no, "--input"); c.out_dir = opt_str(opts, no, "--out");
    if (!c.input || !c.out_dir) fatal("--input and --out are required");
    c.question_field = opt_str(opts, no, "--question-field"); c.chain_field = opt_str(opts, no, "--chain-field");
    c.reference_field = opt_str(opts, no, "--reference-field");
    c.tolerance = opt_num(opts, no, "--tolerance"); c.min_steps = (int)opt_int(opts, no, "--min-steps");
    c.max_repetition = opt_num(opts, no, "--max-repetition"); c.timeout_s = opt_num(opts, no, "--timeout");
    c.mem_bytes = (size_t)opt_int(opts, no, "--mem-mb") << 20; c.python = opt_str(opts, no, "--python");
    c.audit_per_stratum = (int)opt_int(opts, no, "--audit-sample"); c.seed = (unsigned long long)opt_int(opts, no, "--seed");
    if (c.timeout_s <= 0 || c.tolerance < 0) fatal("--timeout must be > 0 and --tolerance >= 0");
    ChainCounts n;
    if (chains_run(&c, &n) < 0) fatal_last();
    fprintf(stderr, "chains: %zu records, %zu kept, %zu removed (code: %zu of %zu passed); see %s/report.json\n",
            n.records, n.kept, n.removed, n.code_pass, n.code_runs, c.out_dir);
    return 0;
}

int cmd_curate(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "chains")) return cmd_curate_chains(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "mix")) return cmd_curate_mix(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "audit")) return cmd_curate_audit(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "classify")) return cmd_curate_classify(argc - 1, argv + 1);
    Opt opts[] = {
        {"--input", "PATH", "input file or folder (more paths may follow)", NULL, NULL, 0},
        {"--out", "DIR", "output folder", NULL, NULL, 0},
        {"--config", "FILE", "JSON config (thresholds per domain, stages, ...; see docs/curate.md)", NULL, NULL, 0},
        {"--strict", NULL, "fail on the first bad input instead of skipping it", NULL, NULL, 0},
        {"--threads", "N", "worker threads (0 = all cores)", "0", NULL, 0},
        {"--seed", "N", "seed for MinHash permutations", NULL, NULL, 0},
        {"--text-field", "NAME", "JSONL field holding the text", NULL, NULL, 0},
        {"--evals", "FILES", "comma-separated eval JSONL files for decontamination", NULL, NULL, 0},
        {"--decontam-flag", NULL, "flag contaminated documents instead of removing them", NULL, NULL, 0},
        {"--bands", "N", "LSH bands", NULL, NULL, 0},
        {"--rows", "N", "LSH rows per band", NULL, NULL, 0},
        {"--no-near", NULL, "skip near-duplicate removal", NULL, NULL, 0},
        {"--no-filters", NULL, "skip the quality filters", NULL, NULL, 0},
        {"--compress", NULL, "write .jsonl.zst", NULL, NULL, 0},
        {"--quiet", NULL, "no progress bar", NULL, NULL, 0},
    };
    int nopts = sizeof opts / sizeof *opts;
    char *pos[4096]; int npos = 4096;
    args_parse(argc, argv, opts, nopts, USAGE, pos, &npos);
    CurateOptions o;
    curate_default_options(&o);
    const char *cfg = opt_str(opts, nopts, "--config");
    if (cfg && curate_load_config(&o, cfg) < 0) fatal_last();
    const char *in = opt_str(opts, nopts, "--input");
    if (!in) { fprintf(stderr, "deepc: error: --input is required\n\n"); args_usage(USAGE, opts, nopts); return 2; }
    const char **inputs = xcalloc(npos + 2, sizeof(char *));
    int ni = 0;
    inputs[ni++] = in;
    for (int i = 0; i < npos; i++) inputs[ni++] = pos[i];
    o.inputs = inputs; o.n_inputs = ni;
    o.out_dir = opt_str(opts, nopts, "--out");
    if (!o.out_dir) { fprintf(stderr, "deepc: error: --out is required\n\n"); args_usage(USAGE, opts, nopts); return 2; }
    if (opt_flag(opts, nopts, "--strict")) o.strict = 1;
    if (opt_flag(opts, nopts, "--threads")) o.threads = (int)opt_int(opts, nopts, "--threads");
    if (opt_flag(opts, nopts, "--seed")) o.seed = (uint64_t)opt_int(opts, nopts, "--seed");
    if (opt_flag(opts, nopts, "--text-field")) o.text_field = opt_str(opts, nopts, "--text-field");
    if (opt_flag(opts, nopts, "--evals")) o.evals = split_list(opt_str(opts, nopts, "--evals"), &o.n_evals);
    if (opt_flag(opts, nopts, "--decontam-flag")) o.decontam_flag_only = 1;
    if (opt_flag(opts, nopts, "--bands")) o.bands = (int)opt_int(opts, nopts, "--bands");
    if (opt_flag(opts, nopts, "--rows")) o.rows = (int)opt_int(opts, nopts, "--rows");
    if (opt_flag(opts, nopts, "--no-near")) o.do_near = 0;
    if (opt_flag(opts, nopts, "--no-filters")) o.do_filters = 0;
    if (opt_flag(opts, nopts, "--compress")) o.compress = 1;
    if (opt_flag(opts, nopts, "--quiet")) o.quiet = 1;
    if (o.bands < 1 || o.rows < 1 || o.bands * o.rows > 4096) fatal("--bands and --rows must be >= 1 with bands*rows <= 4096");
    if (curate_run(&o) < 0) fatal_last();
    fprintf(stderr, "curate: wrote %s/data.jsonl%s and %s/report.md\n", o.out_dir, o.compress ? ".zst" : "", o.out_dir);
    free(inputs);
    return 0;
}
