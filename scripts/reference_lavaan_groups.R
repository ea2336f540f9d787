# Multi-group references for tests/test_ml_groups.py (run from the repo root):
#   Rscript scripts/reference_lavaan_groups.R
# Needs R with lavaan 0.6-14 (Debian: r-base-core r-cran-lavaan); JSON is written by hand.
#
# Data:
# - tests/data/HolzingerSwineford1939.csv grouped by school (Pasteur, Grant-White);
# - tests/data/missing/HolzingerSwineford1939_mcar10.csv (10% MCAR cells), grouped by school;
# - sim3_groups.csv (written here, set.seed(20261210)): 3 groups of 150, 200, 120 cases in
#   the order "b", "a", "c" of first appearance (so group numbering follows the data, not the
#   sort order), a covariate x and two factors (f1 ~ x; f2 ~ f1 + x) with 3 indicators each;
#   the f2 ~ f1 path is 0.2, 0.5, 0.8 in groups b, a, c.
# Fits: for each, `<name>_params.csv` (parameterEstimates(fit, standardized = TRUE) with its
# block and group columns) and `<name>_fit.json` (model, call, group labels, fitMeasures(),
# the per-group chi-squares); `<name>_anova.json` for lavTestLRT() of nested sequences.
suppressMessages(library(lavaan))

out_dir <- "tests/data/groups"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

set.seed(20261210)
sizes <- c(b = 150, a = 200, c = 120)
beta21 <- c(b = 0.2, a = 0.5, c = 0.8)
parts <- list()
for (g in names(sizes)) {
  n <- sizes[[g]]
  x <- rnorm(n, mean = if (g == "c") 0.5 else 0)
  f1 <- 0.5 * x + rnorm(n, sd = sqrt(0.75))
  f2 <- beta21[[g]] * f1 + 0.3 * x + rnorm(n, sd = 0.8)
  lam <- c(1, 0.8, 0.9)
  y <- cbind(
    sapply(1:3, function(j) 2 + lam[j] * f1 + rnorm(n, sd = 0.6)),
    sapply(1:3, function(j) 3 + lam[j] * f2 + rnorm(n, sd = 0.6))
  )
  colnames(y) <- paste0("y", 1:6)
  parts[[g]] <- data.frame(y, x = x, grp = g)
}
sim <- do.call(rbind, parts)
write.csv(sim, file.path(out_dir, "sim3_groups.csv"), row.names = FALSE)

hs3 <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
hs_sem <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
speed ~ visual + textual"
hs_labels <- "visual =~ x1 + c(a1, a2)*x2 + c(b, b)*x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + c(NA, 1)*x9
x7 ~~ c(NA, 0)*x8
d := a1 - a2"
sim_text <- "f1 =~ y1 + y2 + y3
f2 =~ y4 + y5 + y6
f1 ~ x
f2 ~ f1 + x"
hs_data <- "tests/data/HolzingerSwineford1939.csv"
mcar_data <- "tests/data/missing/HolzingerSwineford1939_mcar10.csv"
sim_data <- file.path(out_dir, "sim3_groups.csv")

fit_spec <- function(text, data, group, fun = "cfa", equal = character(), partial = character(),
                     missing = "listwise", std.lv = FALSE) {
  list(text = text, data = data, group = group, fun = fun, equal = equal, partial = partial,
       missing = missing, std.lv = std.lv)
}
hs_levels <- list(
  configural = character(), metric = "loadings", scalar = c("loadings", "intercepts"),
  strict = c("loadings", "intercepts", "residuals"),
  means = c("loadings", "intercepts", "residuals", "means")
)
fits <- list()
for (lv in names(hs_levels)) {
  fits[[paste0("hs_mg_", lv)]] <- fit_spec(hs3, hs_data, "school", equal = hs_levels[[lv]])
}
fits$hs_mg_partial <- fit_spec(hs3, hs_data, "school", equal = c("loadings", "intercepts"),
                               partial = c("visual=~x2", "x3~1"))
fits$hs_mg_labels <- fit_spec(hs_labels, hs_data, "school")
fits$hs_mg_stdlv_metric <- fit_spec(hs3, hs_data, "school", equal = "loadings", std.lv = TRUE)
fits$hs_mg_sem <- fit_spec(hs_sem, hs_data, "school", fun = "sem",
                           equal = c("loadings", "intercepts", "regressions", "lv.covariances"),
                           partial = "speed~textual")
fits$hs_mg_fiml_configural <- fit_spec(hs3, mcar_data, "school", missing = "ml")
fits$hs_mg_fiml_scalar <- fit_spec(hs3, mcar_data, "school", missing = "ml",
                                   equal = c("loadings", "intercepts"))
fits$sim3_configural <- fit_spec(sim_text, sim_data, "grp", fun = "sem")
fits$sim3_equal <- fit_spec(sim_text, sim_data, "grp", fun = "sem",
                            equal = c("loadings", "intercepts", "residuals", "regressions"),
                            partial = "f2~f1")

measures <- c(
  "npar", "fmin", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli",
  "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue", "srmr", "aic", "bic", "bic2",
  "logl", "unrestricted.logl"
)
param_cols <- c(
  "lhs", "op", "rhs", "block", "group", "label", "est", "se", "z", "pvalue", "ci.lower",
  "ci.upper", "std.lv", "std.all"
)

json_str <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
json_num <- function(x) if (is.na(x) || is.infinite(x)) "null" else sprintf("%.15g", x)
json_arr <- function(items) paste0("[", paste(items, collapse = ", "), "]")
json_obj <- function(items, indent = "  ") {
  body <- paste0(indent, "  ", json_str(names(items)), ": ", unlist(items), collapse = ",\n")
  paste0("{\n", body, "\n", indent, "}")
}
meta <- list(
  R = json_str(R.version.string),
  lavaan = json_str(as.character(packageVersion("lavaan"))),
  date = json_str(format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z")),
  script = json_str("scripts/reference_lavaan_groups.R")
)

fitted <- list()
for (name in names(fits)) {
  m <- fits[[name]]
  data <- read.csv(m$data)
  args <- list(model = m$text, data = data, group = m$group, missing = m$missing,
               std.lv = m$std.lv)
  if (length(m$equal)) args$group.equal <- m$equal
  if (length(m$partial)) args$group.partial <- m$partial
  fit <- suppressWarnings(do.call(m$fun, args))
  stopifnot(lavInspect(fit, "converged"))
  fitted[[name]] <- fit
  pe <- parameterEstimates(fit, standardized = TRUE)
  if (!"label" %in% names(pe)) pe$label <- ""
  write.csv(pe[, param_cols], file.path(out_dir, paste0(name, "_params.csv")), row.names = FALSE)
  fm <- fitMeasures(fit, measures)
  fm_items <- lapply(measures, function(k) json_num(unname(fm[[k]])))
  names(fm_items) <- measures
  call_text <- sprintf(
    "%s(model, data = %s, group = \"%s\", group.equal = c(%s), group.partial = c(%s), missing = \"%s\", std.lv = %s)",
    m$fun, basename(m$data), m$group,
    paste0("\"", m$equal, "\"", collapse = ", "), paste0("\"", m$partial, "\"", collapse = ", "),
    m$missing, m$std.lv
  )
  stat_group <- fit@test[[1]]$stat.group
  doc <- json_obj(list(
    name = json_str(name),
    data = json_str(m$data),
    model = json_str(m$text),
    call = json_str(call_text),
    group = json_str(m$group),
    group_labels = json_arr(sapply(lavInspect(fit, "group.label"), json_str)),
    nobs = json_arr(sapply(lavInspect(fit, "nobs"), json_num)),
    chisq_group = json_arr(sapply(stat_group, json_num)),
    meanstructure = if (isTRUE(lavInspect(fit, "options")$meanstructure)) "true" else "false",
    meta = json_obj(meta, "  "),
    fit_measures = json_obj(fm_items, "  ")
  ), "")
  writeLines(doc, file.path(out_dir, paste0(name, "_fit.json")))
  cat(sprintf("%-24s npar %2d  chisq %9.4f  df %2d\n", name, as.integer(fm[["npar"]]),
              fm[["chisq"]], as.integer(fm[["df"]])))
}

write_anova <- function(names_in, file) {
  tab <- do.call(lavTestLRT, c(unname(fitted[names_in]), list(model.names = names_in)))
  rows <- lapply(seq_len(nrow(tab)), function(i) {
    json_obj(list(
      model = json_str(rownames(tab)[i]),
      Df = json_num(tab[i, "Df"]), AIC = json_num(tab[i, "AIC"]), BIC = json_num(tab[i, "BIC"]),
      Chisq = json_num(tab[i, "Chisq"]), Chisq_diff = json_num(tab[i, "Chisq diff"]),
      Df_diff = json_num(tab[i, "Df diff"]), Pr = json_num(tab[i, "Pr(>Chisq)"])
    ), "  ")
  })
  writeLines(paste0("[\n", paste(rows, collapse = ",\n"), "\n]"), file.path(out_dir, file))
}
write_anova(paste0("hs_mg_", names(hs_levels)), "hs_mg_levels_anova.json")
write_anova(c("hs_mg_fiml_configural", "hs_mg_fiml_scalar"), "hs_mg_fiml_anova.json")
write_anova(c("sim3_configural", "sim3_equal"), "sim3_anova.json")
