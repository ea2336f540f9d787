# Regenerate the extra lavaan reference fits in tests/data/lavaan_extra/ (run from the repo root):
#   Rscript scripts/reference_lavaan.R
# Needs R with lavaan 0.6-14 (Debian: r-cran-lavaan); jsonlite is not needed (JSON is written by
# hand with 15 significant digits).
#
# For every model below: `<name>_params.csv` is `parameterEstimates(fit, standardized = TRUE)`
# (columns lhs, op, rhs, label, est, se, z, pvalue, ci.lower, ci.upper, std.lv, std.all; label
# is empty when the row has none) and `<name>_fit.json` holds the model text, the R call, the
# data set, meta data and `fitMeasures()` (the measures listed in `measures`). Every model is
# fitted with `sem()` and its defaults unless the call says otherwise, so the model text alone
# (plus `std.lv`) is portable to bayes-bmi.
suppressMessages(library(lavaan))

out_dir <- "tests/data/lavaan_extra"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

data_files <- list(
  hs = "tests/data/HolzingerSwineford1939.csv",
  poldem = "tests/data/PoliticalDemocracy.csv"
)
datasets <- lapply(data_files, read.csv)

hs3 <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

models <- list(
  hs_cfa_stdlv = list(
    data = "hs", std.lv = TRUE,
    text = "# three-factor CFA identified by unit latent variances
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
  ),
  hs_cross_loading = list(
    data = "hs", std.lv = FALSE,
    text = "# x9 (straight-curved capitals) also loads on visual
visual =~ x1 + x2 + x3 + x9
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
  ),
  hs_equality = list(
    data = "hs", std.lv = FALSE,
    text = "# equal loadings (label a) and equal residual variances (label v) for x5, x6
visual =~ x1 + x2 + x3
textual =~ x4 + a*x5 + a*x6
speed =~ x7 + x8 + x9
x5 ~~ v*x5
x6 ~~ v*x6"
  ),
  hs_fixed_loadings = list(
    data = "hs", std.lv = FALSE,
    text = "# tau-equivalent speed factor: all loadings fixed to 1
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ 1*x7 + 1*x8 + 1*x9"
  ),
  hs_latent_mean = list(
    data = "hs", std.lv = FALSE,
    text = "# mean structure: the visual mean is free, the intercept of its marker x1 is fixed to 0
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
visual ~ 1
x1 ~ 0*1
x2 ~ 1"
  ),
  hs_mimic = list(
    data = "hs", std.lv = FALSE,
    text = "# MIMIC: grade predicts the visual factor (one missing grade: listwise deletion)
visual =~ x1 + x2 + x3
visual ~ grade"
  ),
  poldem_mediation = list(
    data = "poldem", std.lv = FALSE,
    text = "# observed mediation: industrialisation (x1) -> democracy 1960 (y2) -> 1965 (y3)
y2 ~ a*x1
y3 ~ b*y2 + c*x1
ind := a*b
total := c + a*b"
  ),
  poldem_two_outcomes = list(
    data = "poldem", std.lv = FALSE,
    text = "# two outcomes of one predictor; saturated (df 0), residual covariance free by default
y1 ~ x1
y2 ~ x1"
  ),
  hs_second_order = list(
    data = "hs", std.lv = FALSE,
    text = "# second-order factor g over the three first-order factors
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
g =~ visual + textual + speed"
  ),
  hs_single_indicator = list(
    data = "hs", std.lv = FALSE,
    text = "# x1 as a single-indicator latent f (its residual variance fixed to 0 by lavaan)
f =~ x1
visual =~ x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
  ),
  hs_two_factor_rescov = list(
    data = "hs", std.lv = FALSE,
    text = "# two factors and a residual covariance between x7 and x9
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
x7 ~~ x9"
  ),
  poldem_sem_stdlv = list(
    data = "poldem", std.lv = TRUE,
    text = "# the Political Democracy SEM of the lavaan tutorial, std.lv = TRUE
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"
  ),
  hs_structural = list(
    data = "hs", std.lv = FALSE,
    text = "# structural paths among the three factors
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
textual ~ visual
speed ~ visual + textual"
  ),
  hs_orthogonal = list(
    data = "hs", std.lv = FALSE,
    text = "# orthogonal factors, written as explicit zero covariances (cfa(orthogonal = TRUE))
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
visual ~~ 0*textual
visual ~~ 0*speed
textual ~~ 0*speed"
  )
)

measures <- c(
  "npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli", "rmsea",
  "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue", "srmr", "aic", "bic", "logl",
  "unrestricted.logl"
)
param_cols <- c(
  "lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci.lower", "ci.upper",
  "std.lv", "std.all"
)

json_str <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\t", "\\t", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
json_num <- function(x) {
  if (is.na(x)) "null" else if (is.infinite(x)) "null" else sprintf("%.15g", x)
}
json_obj <- function(items, indent = "  ") {
  # items: named list of already-encoded JSON values
  body <- paste0(indent, "  ", json_str(names(items)), ": ", unlist(items), collapse = ",\n")
  paste0("{\n", body, "\n", indent, "}")
}

meta <- list(
  R = json_str(R.version.string),
  lavaan = json_str(as.character(packageVersion("lavaan"))),
  date = json_str(format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z")),
  script = json_str("scripts/reference_lavaan.R")
)

for (name in names(models)) {
  m <- models[[name]]
  data <- datasets[[m$data]]
  call_text <- if (isTRUE(m$std.lv)) {
    sprintf("sem(model, data = %s, std.lv = TRUE)", m$data)
  } else {
    sprintf("sem(model, data = %s)", m$data)
  }
  fit <- if (isTRUE(m$std.lv)) {
    sem(m$text, data = data, std.lv = TRUE)
  } else {
    sem(m$text, data = data)
  }
  stopifnot(lavInspect(fit, "converged"))

  pe <- parameterEstimates(fit, standardized = TRUE)
  if (!"label" %in% names(pe)) pe$label <- ""
  pe <- pe[, param_cols]
  write.csv(pe, file.path(out_dir, paste0(name, "_params.csv")), row.names = FALSE)

  fm <- fitMeasures(fit, measures)
  fm_items <- lapply(measures, function(k) json_num(unname(fm[[k]])))
  names(fm_items) <- measures
  opts <- lavInspect(fit, "options")
  options_items <- list(
    estimator = json_str(opts$estimator),
    se = json_str(opts$se),
    test = json_str(opts$test[1]),
    missing = json_str(opts$missing),
    std.lv = if (isTRUE(opts$std.lv)) "true" else "false",
    meanstructure = if (isTRUE(opts$meanstructure)) "true" else "false",
    fixed.x = if (isTRUE(opts$fixed.x)) "true" else "false",
    ntotal = json_num(lavInspect(fit, "ntotal"))
  )
  doc <- json_obj(list(
    name = json_str(name),
    data = json_str(data_files[[m$data]]),
    model = json_str(m$text),
    call = json_str(call_text),
    std_lv = if (isTRUE(m$std.lv)) "true" else "false",
    converged = "true",
    iterations = json_num(lavInspect(fit, "iterations")),
    options = json_obj(options_items, "  "),
    meta = json_obj(meta, "  "),
    fit_measures = json_obj(fm_items, "  ")
  ), "")
  writeLines(doc, file.path(out_dir, paste0(name, "_fit.json")))
  cat(sprintf("%-22s npar %2d  chisq %10.4f  df %2d\n", name, as.integer(fm[["npar"]]),
              fm[["chisq"]], as.integer(fm[["df"]])))
}
