# Regenerate the measurement-stage reference values in this folder (run from the repo root):
#   Rscript tests/data/measurement/make_reference.R
# Needs R with psych, lavaan and semTools (Debian: r-cran-psych r-cran-semtools).
suppressMessages({
  library(psych)
  library(lavaan)
  library(semTools)
})

here <- "tests/data/measurement"
hs <- read.csv("tests/data/HolzingerSwineford1939.csv")
items <- paste0("x", 1:9)
x <- hs[, items]
n <- nrow(x)
R <- cor(x)
wcsv <- function(df, name) write.csv(df, file.path(here, name), row.names = FALSE)
fmt <- function(v) trimws(formatC(v, digits = 15, format = "g"))

# KMO and Bartlett (psych)
k <- KMO(x)
wcsv(data.frame(item = c(items, "overall"), msa = fmt(c(k$MSAi, k$MSA))), "hs_kmo.csv")
b <- cortest.bartlett(R, n = n)
wcsv(data.frame(chisq = fmt(b$chisq), df = b$df, p_value = fmt(b$p.value)), "hs_bartlett.csv")

# PCA of the correlation matrix: eigenvalues and unrotated loadings (3 components)
e <- eigen(R, symmetric = TRUE)
wcsv(data.frame(component = 1:9, eigenvalue = fmt(e$values)), "hs_eigenvalues.csv")
L <- e$vectors[, 1:3] %*% diag(sqrt(e$values[1:3]))

# stats::varimax (Kaiser normalisation) run to full convergence, and stats::promax (m = 4) with
# its internal varimax run to full convergence too (R's default eps = 1e-5 stops early, which
# moves loadings by up to ~5e-4).
vt <- varimax(L, eps = 1e-14)
wcsv(data.frame(item = items, matrix(fmt(unclass(vt$loadings)), ncol = 3)), "hs_varimax3.csv")
promax_tight <- stats::promax
environment(promax_tight) <- local({
  varimax <- function(x, ...) stats::varimax(x, eps = 1e-14)
  environment()
})
pt <- promax_tight(L, m = 4)
wcsv(data.frame(item = items, matrix(fmt(unclass(pt$loadings)), ncol = 3)), "hs_promax3.csv")
U <- pt$rotmat
wcsv(data.frame(matrix(fmt(solve(t(U) %*% U)), ncol = 3)), "hs_promax3_phi.csv")
# psych::principal with R's defaults (eps = 1e-5), as a thesis reader would run it
pv <- principal(x, nfactors = 3, rotate = "varimax")
wcsv(data.frame(item = items, matrix(fmt(unclass(pv$loadings)), ncol = 3),
                communality = fmt(pv$communality)), "hs_principal_varimax3.csv")

# Parallel analysis: psych's mean random eigenvalues, and the 95th percentile by direct
# simulation here (2000 normal data sets of the same size)
set.seed(1)
pa <- fa.parallel(x, fa = "pc", n.iter = 2000, plot = FALSE, sim = TRUE)
set.seed(2)
sims <- t(replicate(2000, eigen(cor(matrix(rnorm(n * 9), n, 9)), symmetric = TRUE,
                                 only.values = TRUE)$values))
wcsv(data.frame(component = 1:9, psych_mean = fmt(pa$pc.sim),
                sim_mean = fmt(colMeans(sims)),
                sim_p95 = fmt(apply(sims, 2, quantile, probs = 0.95))), "hs_parallel.csv")
wcsv(data.frame(ncomp = pa$ncomp), "hs_parallel_ncomp.csv")

# Cronbach's alpha per construct (psych::alpha, raw alpha)
constructs <- list(visual = c("x1", "x2", "x3"), textual = c("x4", "x5", "x6"),
                   speed = c("x7", "x8", "x9"))
rows <- list(); rows_i <- list()
for (cn in names(constructs)) {
  a <- alpha(x[, constructs[[cn]]], warnings = FALSE)
  rows[[cn]] <- data.frame(construct = cn, alpha = fmt(a$total$raw_alpha))
  rows_i[[cn]] <- data.frame(construct = cn, item = constructs[[cn]],
                             alpha_if_deleted = fmt(a$alpha.drop$raw_alpha),
                             item_total_corrected = fmt(a$item.stats$r.drop))
}
wcsv(do.call(rbind, rows), "hs_alpha.csv")
wcsv(do.call(rbind, rows_i), "hs_alpha_items.csv")

# CFA: AVE (semTools), composite reliability from lavaan's standardized loadings
# (Fornell-Larcker form) and semTools::compRelSEM(obs.var = FALSE) on the same model fitted
# to z-scored items, where omega equals the Fornell-Larcker CR; latent correlations; HTMT.
model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
fit <- cfa(model, data = hs)
std <- standardizedSolution(fit)
cr_std <- sapply(names(constructs), function(cn) {
  l <- std$est.std[std$op == "=~" & std$lhs == cn]
  sum(l)^2 / (sum(l)^2 + sum(1 - l^2))
})
zfit <- cfa(model, data = as.data.frame(scale(x)))
cr_sem <- compRelSEM(zfit, obs.var = FALSE)
ave_std <- sapply(names(constructs), function(cn) {
  mean(std$est.std[std$op == "=~" & std$lhs == cn]^2)
})
# semTools::AVE (obs.var = TRUE) is sum(l^2 psi) / sum(observed variances): on z-scored items
# it is the mean squared standardized loading; on raw items it differs slightly.
wcsv(data.frame(construct = names(constructs), ave_std = fmt(ave_std),
                ave_semtools_z = fmt(AVE(zfit)[names(constructs)]),
                ave_semtools_raw = fmt(AVE(fit)[names(constructs)]),
                cr_std = fmt(cr_std), cr_comprelsem = fmt(cr_sem[names(constructs)])),
     "hs_cr_ave.csv")
cl <- lavInspect(fit, "cor.lv")
wcsv(data.frame(construct = rownames(cl), matrix(fmt(cl), ncol = ncol(cl))), "hs_cor_lv.csv")
h1 <- htmt(model, data = hs, htmt2 = FALSE)
h2 <- htmt(model, data = hs, htmt2 = TRUE)
wcsv(data.frame(construct = rownames(h1), matrix(fmt(unclass(h1)), ncol = 3)), "hs_htmt.csv")
wcsv(data.frame(construct = rownames(h2), matrix(fmt(unclass(h2)), ncol = 3)), "hs_htmt2.csv")

# Second-order model: standardized loadings of g and its CR/AVE (Fornell-Larcker form)
fit2 <- cfa(paste(model, "g =~ visual + textual + speed", sep = "\n"), data = hs)
s2 <- standardizedSolution(fit2)
lg <- s2$est.std[s2$op == "=~" & s2$lhs == "g"]
wcsv(data.frame(indicator = c("visual", "textual", "speed"), std_loading = fmt(lg)),
     "hs_second_order_loadings.csv")
wcsv(data.frame(cr = fmt(sum(lg)^2 / (sum(lg)^2 + sum(1 - lg^2))), ave = fmt(mean(lg^2))),
     "hs_second_order_cr_ave.csv")

# Kendall's W via Friedman's test (stats::friedman.test applies the tie correction):
# W = chi2 / (m (n - 1)) for m raters (blocks) and n elements (groups)
ex <- read.csv("data/experts/ratings_example.csv")
ratings <- as.matrix(ex[, -1])
ft <- friedman.test(ratings)
m <- nrow(ratings); ne <- ncol(ratings)
wcsv(data.frame(chisq = fmt(unname(ft$statistic)), df = unname(ft$parameter),
                p_value = fmt(ft$p.value),
                kendall_w = fmt(unname(ft$statistic) / (m * (ne - 1)))),
     "experts_example_friedman.csv")

cat("R", R.version$major, R.version$minor, "psych", as.character(packageVersion("psych")),
    "lavaan", as.character(packageVersion("lavaan")),
    "semTools", as.character(packageVersion("semTools")), "\n")
