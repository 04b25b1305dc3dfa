/* radio.c - cells on a hexagonal layout and the radio between them and the
 * devices: 3GPP TR 38.901 UMa/UMi path loss with its LOS probability,
 * log-normal shadowing, Rayleigh fast fading, SINR against the
 * neighbouring cells and a rate from the CQI table of TS 38.214 (or
 * Shannon with a gap). Formulas and figures: docs/sim.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SIM_SQRT3 1.7320508075688772
#define SIM_UE_HEIGHT 1.5
#define SIM_HANDOVER_HYSTERESIS_DB 3.0
#define SIM_LATTICE_M 50.0
#define M_SQRT1_2_ 0.70710678118654752

double sim_normal(uint64_t seed, uint32_t stream, uint64_t id, uint64_t counter)
{
    /* Box-Muller from two draws of the same counter's neighbourhood. */
    double u1 = sim_uniform(seed, stream, id, counter * 2);
    const double u2 = sim_uniform(seed, stream, id, counter * 2 + 1);
    if (u1 < 1e-300) {
        u1 = 1e-300;
    }
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int hex_distance(int q, int r)
{
    return (abs(q) + abs(r) + abs(q + r)) / 2;
}

typedef struct axial_cell {
    int q, r, ring;
    double angle;
} axial_cell;

static int axial_order(const void *a, const void *b)
{
    const axial_cell *x = a, *y = b;
    if (x->ring != y->ring) {
        return x->ring < y->ring ? -1 : 1;
    }
    return x->angle < y->angle ? -1 : x->angle > y->angle ? 1 : 0;
}

tl_status sim_radio_init(sim_radio *radio, const tl_sim_config *config, char *error, size_t error_size)
{
    memset(radio, 0, sizeof *radio);
    radio->config = config;
    const int rings = config->rings;
    const double d = config->inter_site_m;
    radio->cells = 1 + 3 * rings * (rings + 1);
    radio->span = 2 * rings + 1;
    radio->geo = calloc((size_t)radio->cells, sizeof *radio->geo);
    radio->axial = malloc((size_t)radio->span * (size_t)radio->span * sizeof *radio->axial);
    axial_cell *order = malloc((size_t)radio->cells * sizeof *order);
    if (!radio->geo || !radio->axial || !order) {
        free(order);
        sim_radio_free(radio);
        snprintf(error, error_size, "sim: out of memory for %d cells", radio->cells);
        return TL_ERR_NOMEM;
    }
    int n = 0;
    for (int q = -rings; q <= rings; q++) {
        for (int r = -rings; r <= rings; r++) {
            radio->axial[(q + rings) * radio->span + (r + rings)] = -1;
            const int ring = hex_distance(q, r);
            if (ring <= rings) {
                const double x = d * (q + r / 2.0), y = d * (SIM_SQRT3 / 2.0) * r;
                order[n++] = (axial_cell){ q, r, ring, atan2(y, x) };
            }
        }
    }
    /* Ring by ring: cells with nearby numbers are near each other, so a
     * region (consecutive cells) is a compact patch. */
    qsort(order, (size_t)n, sizeof *order, axial_order);
    for (int i = 0; i < n; i++) {
        radio->axial[(order[i].q + rings) * radio->span + (order[i].r + rings)] = i;
        radio->geo[i].x = d * (order[i].q + order[i].r / 2.0);
        radio->geo[i].y = d * (SIM_SQRT3 / 2.0) * order[i].r;
    }
    for (int i = 0; i < n; i++) {
        sim_cell_geo *g = &radio->geo[i];
        for (int dq = -2; dq <= 2; dq++) {
            for (int dr = -2; dr <= 2; dr++) {
                const int q = order[i].q + dq, r = order[i].r + dr;
                if ((dq == 0 && dr == 0) || hex_distance(dq, dr) > 2 || hex_distance(q, r) > rings) {
                    continue;
                }
                g->neighbours[g->neighbour_count++] = radio->axial[(q + rings) * radio->span + (r + rings)];
            }
        }
    }
    free(order);
    radio->hex_radius = d / SIM_SQRT3;
    /* NR: resource blocks of 12 subcarriers at 15 * 2^mu kHz fill ~98% of
     * the channel (TS 38.101-1: 273 blocks in 100 MHz at 30 kHz). */
    const double scs = 15e3 * (double)(1 << config->numerology);
    const double prbs = floor(config->bandwidth_mhz * 1e6 * 0.983 / (12.0 * scs));
    const double usable = prbs * 12.0 * scs * (1.0 - config->overhead);
    radio->bandwidth_dl_hz = usable * config->dl_share;
    radio->bandwidth_ul_hz = usable * (1.0 - config->dl_share);
    /* With power_scales the power spectral density stays that of 100 MHz
     * at bs_tx_dbm: a wider channel gets proportionally more power. */
    radio->bs_tx_dbm = config->bs_tx_dbm + (config->power_scales ? 10.0 * log10(config->bandwidth_mhz / 100.0) : 0.0);
    radio->noise_dl_dbm = -174.0 + 10.0 * log10(prbs * 12.0 * scs) + config->noise_figure_db;
    radio->noise_ul_dbm = -174.0 + 10.0 * log10(prbs * 12.0 * scs) + config->bs_noise_figure_db;
    if (prbs < 1) {
        sim_radio_free(radio);
        snprintf(error, error_size, "sim: %.3g MHz holds no resource block at numerology %d", config->bandwidth_mhz,
                 config->numerology);
        return TL_ERR_ARG;
    }
    return TL_OK;
}

void sim_radio_free(sim_radio *radio)
{
    free(radio->geo);
    free(radio->axial);
    free(radio->map);
    radio->geo = NULL;
    radio->axial = NULL;
    radio->map = NULL;
}

int sim_radio_cell_at(const sim_radio *radio, double x, double y)
{
    /* Pointy-top axial coordinates, then cube rounding. */
    const double s = radio->hex_radius;
    const double fq = (SIM_SQRT3 / 3.0 * x - y / 3.0) / s, fr = (2.0 / 3.0 * y) / s;
    const double fs = -fq - fr;
    double rq = round(fq), rr = round(fr), rs = round(fs);
    const double dq = fabs(rq - fq), dr = fabs(rr - fr), ds = fabs(rs - fs);
    if (dq > dr && dq > ds) {
        rq = -rr - rs;
    } else if (dr > ds) {
        rr = -rq - rs;
    }
    const int q = (int)rq, r = (int)rr, rings = radio->config->rings;
    if (hex_distance(q, r) <= rings) {
        return radio->axial[(q + rings) * radio->span + (r + rings)];
    }
    int best = 0;
    double best_d = INFINITY;
    for (int i = 0; i < radio->cells; i++) {
        const double ex = radio->geo[i].x - x, ey = radio->geo[i].y - y, dd = ex * ex + ey * ey;
        if (dd < best_d) {
            best_d = dd;
            best = i;
        }
    }
    return best;
}

void sim_radio_place(const sim_radio *radio, uint64_t seed, uint32_t stream, uint64_t id, uint64_t counter,
                     double *x, double *y)
{
    const int cell = (int)(sim_uniform(seed, stream, id, counter * 64) * radio->cells);
    const double s = radio->hex_radius;
    for (uint64_t k = 1;; k++) {
        const double px = radio->geo[cell].x + (sim_uniform(seed, stream, id, counter * 64 + 2 * k) - 0.5) * SIM_SQRT3 * s;
        const double py = radio->geo[cell].y + (sim_uniform(seed, stream, id, counter * 64 + 2 * k + 1) - 0.5) * 2.0 * s;
        if (sim_radio_cell_at(radio, px, py) == cell || k == 31) {
            *x = px;
            *y = py;
            return;
        }
    }
}

static double base_station_height(const tl_sim_config *config)
{
    return config->umi ? 10.0 : 25.0;
}

double sim_los_probability(const tl_sim_config *config, double d2d)
{
    if (d2d <= 18.0) {
        return 1.0;
    }
    /* TR 38.901 Table 7.4.2-1 (UMa with a 1.5 m terminal: C'(hUT) = 0). */
    const double scale = config->umi ? 36.0 : 63.0;
    return 18.0 / d2d + exp(-d2d / scale) * (1.0 - 18.0 / d2d);
}

double sim_path_loss_db(const tl_sim_config *config, double d2d, int los)
{
    const double hbs = base_station_height(config), fc = config->carrier_ghz;
    if (d2d < 10.0) {
        d2d = 10.0;
    }
    const double dh = hbs - SIM_UE_HEIGHT;
    const double d3d = sqrt(d2d * d2d + dh * dh);
    /* Breakpoint with effective heights (environment height 1 m). */
    const double dbp = 4.0 * (hbs - 1.0) * (SIM_UE_HEIGHT - 1.0) * fc * 1e9 / 3e8;
    double pl_los;
    if (config->umi) {
        pl_los = d2d <= dbp ? 32.4 + 21.0 * log10(d3d) + 20.0 * log10(fc)
                            : 32.4 + 40.0 * log10(d3d) + 20.0 * log10(fc) - 9.5 * log10(dbp * dbp + dh * dh);
    } else {
        pl_los = d2d <= dbp ? 28.0 + 22.0 * log10(d3d) + 20.0 * log10(fc)
                            : 28.0 + 40.0 * log10(d3d) + 20.0 * log10(fc) - 9.0 * log10(dbp * dbp + dh * dh);
    }
    if (los) {
        return pl_los;
    }
    const double pl_nlos = config->umi ? 22.4 + 35.3 * log10(d3d) + 21.3 * log10(fc)
                                       : 13.54 + 39.08 * log10(d3d) + 20.0 * log10(fc);
    return pl_nlos > pl_los ? pl_nlos : pl_los;
}

/* TS 38.214 Table 5.2.2.1-2 (up to 64QAM): spectral efficiency of CQI 1..15,
 * and the SINR (dB) at which each reaches 10% block errors (AWGN link
 * curves as commonly used in system-level simulators). */
static const double cqi_efficiency[15] = { 0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141,
                                           2.4063, 2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547 };
static const double cqi_sinr_db[15] = { -6.7, -4.7, -2.3, 0.2, 2.4, 4.3, 5.9, 8.1, 10.3, 11.7, 14.1, 16.3, 18.7, 21.0, 22.7 };

/* Below CQI 1 a device still gets through with repetitions, slowly. */
#define SIM_SE_FLOOR 0.05

double sim_spectral_efficiency(const tl_sim_config *config, double sinr_db)
{
    if (config->shannon) {
        const double se = log2(1.0 + pow(10.0, (sinr_db - config->shannon_gap_db) / 10.0));
        return se < SIM_SE_FLOOR ? SIM_SE_FLOOR : se > 7.4 ? 7.4 : se;
    }
    double se = SIM_SE_FLOOR;
    for (int i = 0; i < 15 && sinr_db >= cqi_sinr_db[i]; i++) {
        se = cqi_efficiency[i];
    }
    return se;
}

static double shadow_sigma(const tl_sim_config *config, int los)
{
    return los ? 4.0 : config->umi ? 7.82 : 6.0;
}

/* The radio map: per square of the layout, the three strongest cells and
 * the sum of every nearby cell's power. Shadowing and line of sight belong
 * to a place (TR 38.901's spatially consistent procedure, decorrelated over
 * tens of metres), so every device in a square sees the same cells; the
 * map is computed once and a device's pick of its cell is a look-up. */
static void map_square(sim_radio *radio, uint64_t seed, double x, double y, sim_radio_square *out)
{
    const tl_sim_config *config = radio->config;
    const int home = sim_radio_cell_at(radio, x, y);
    int candidates[19];
    int count = 0;
    candidates[count++] = home;
    for (int i = 0; i < radio->geo[home].neighbour_count; i++) {
        candidates[count++] = radio->geo[home].neighbours[i];
    }
    double sum_mw = 0;
    for (int k = 0; k < 3; k++) {
        out->cell[k] = (uint16_t)home;
        out->rx_dbm[k] = -1e9f;
    }
    for (int i = 0; i < count; i++) {
        const int c = candidates[i];
        const double ex = radio->geo[c].x - x, ey = radio->geo[c].y - y;
        const double d2d = sqrt(ex * ex + ey * ey);
        /* Line of sight on a 50 m lattice; shadowing a field interpolated
         * between 50 m lattice points (normalised to keep its sigma), so
         * neighbouring squares see correlated shadowing, as TR 38.901's
         * decorrelation distances (37-50 m) ask. */
        const double lx = (x - radio->map_origin) / SIM_LATTICE_M, ly = (y - radio->map_origin) / SIM_LATTICE_M;
        const uint64_t gx = (uint64_t)floor(lx), gy = (uint64_t)floor(ly);
        const double fx = lx - (double)gx, fy = ly - (double)gy;
        const uint64_t nearest = ((gy + (fy >= 0.5)) << 20 | (gx + (fx >= 0.5))) * 65536u + (uint64_t)c;
        const int los = sim_uniform(seed, SIM_RNG_LOS, nearest, 0) < sim_los_probability(config, d2d);
        double loss = sim_path_loss_db(config, d2d, los);
        if (config->shadowing) {
            const double wgt[4] = { (1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy };
            double field = 0, norm = 0;
            /* Half of it shared by every cell at a place (the surroundings
             * of the device), half the path's own: a 0.5 correlation
             * between sites, as in 3GPP system simulations. */
            for (int k = 0; k < 4; k++) {
                const uint64_t place = (gy + (uint64_t)(k >> 1)) << 20 | (gx + (uint64_t)(k & 1));
                field += wgt[k] * (M_SQRT1_2_ * sim_normal(seed, SIM_RNG_SHADOW, place * 65536u + 65535u, 0) +
                                   M_SQRT1_2_ * sim_normal(seed, SIM_RNG_SHADOW, place * 65536u + (uint64_t)c, 0));
                norm += wgt[k] * wgt[k];
            }
            loss += shadow_sigma(config, los) * field / sqrt(norm);
        }
        const float rx = (float)(radio->bs_tx_dbm - loss);
        sum_mw += pow(10.0, rx / 10.0);
        for (int k = 0; k < 3; k++) {
            if (rx > out->rx_dbm[k]) {
                for (int m = 2; m > k; m--) {
                    out->cell[m] = out->cell[m - 1];
                    out->rx_dbm[m] = out->rx_dbm[m - 1];
                }
                out->cell[k] = (uint16_t)c;
                out->rx_dbm[k] = rx;
                break;
            }
        }
    }
    out->sum_mw = sum_mw;
}

tl_status sim_radio_build_map(sim_radio *radio, uint64_t seed, char *error, size_t error_size)
{
    const double extent = radio->config->inter_site_m * (radio->config->rings + 1.0);
    radio->map_origin = -extent;
    radio->map_side = (int)ceil(2.0 * extent / SIM_MAP_SQUARE_M);
    const size_t squares = (size_t)radio->map_side * (size_t)radio->map_side;
    radio->map = malloc(squares * sizeof *radio->map);
    if (!radio->map) {
        snprintf(error, error_size, "sim: out of memory for a radio map of %zu squares", squares);
        return TL_ERR_NOMEM;
    }
    for (int j = 0; j < radio->map_side; j++) {
        for (int i = 0; i < radio->map_side; i++) {
            const double x = radio->map_origin + (i + 0.5) * SIM_MAP_SQUARE_M;
            const double y = radio->map_origin + (j + 0.5) * SIM_MAP_SQUARE_M;
            map_square(radio, seed, x, y, &radio->map[(size_t)j * (size_t)radio->map_side + (size_t)i]);
        }
    }
    return TL_OK;
}

uint32_t sim_radio_square_at(const sim_radio *radio, double x, double y)
{
    int i = (int)floor((x - radio->map_origin) / SIM_MAP_SQUARE_M);
    int j = (int)floor((y - radio->map_origin) / SIM_MAP_SQUARE_M);
    i = i < 0 ? 0 : i >= radio->map_side ? radio->map_side - 1 : i;
    j = j < 0 ? 0 : j >= radio->map_side ? radio->map_side - 1 : j;
    return (uint32_t)j * (uint32_t)radio->map_side + (uint32_t)i;
}

void sim_radio_attach(const sim_radio *radio, uint32_t square, double ue_tx_dbm, int serving, int stay,
                      sim_link_quality *quality)
{
    const tl_sim_config *config = radio->config;
    const sim_radio_square *sq = &radio->map[square];
    int pick = 0;
    double rx = sq->rx_dbm[0];
    /* Handover hysteresis (an A3 event's offset): a device leaves its
     * serving cell only for one 3 dB stronger. */
    for (int k = 1; k < 3 && serving >= 0; k++) {
        if (sq->cell[k] == serving && sq->rx_dbm[k] + SIM_HANDOVER_HYSTERESIS_DB > sq->rx_dbm[0]) {
            pick = k;
        }
    }
    rx = sq->rx_dbm[pick];
    int cell = sq->cell[pick];
    if (stay && serving >= 0 && cell != serving) {
        /* Staying on a weaker cell until the handover triggers: its power
         * is the map's, or below the third strongest when not among them. */
        rx = sq->rx_dbm[2] - SIM_HANDOVER_HYSTERESIS_DB;
        for (int k = 0; k < 3; k++) {
            rx = sq->cell[k] == serving ? sq->rx_dbm[k] : rx;
        }
        cell = serving;
    }
    const double rx_mw = pow(10.0, rx / 10.0);
    const double others = sq->sum_mw - rx_mw;
    quality->cell = cell;
    quality->sinr_dl_db = rx - 10.0 * log10(config->interference_load * (others > 0 ? others : 0) +
                                            pow(10.0, radio->noise_dl_dbm / 10.0));
    /* Uplink: the device's power over the cell's noise, raised by the other
     * cells' devices (interference over thermal grows with their load). */
    const double loss = radio->bs_tx_dbm - rx;
    const double rise_db = 10.0 * log10(1.0 + 2.0 * config->interference_load);
    quality->sinr_ul_db = ue_tx_dbm - loss - radio->noise_ul_dbm - rise_db;
}
