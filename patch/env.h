/*
 * patch/env.h — the validation environment of the running kernel.
 */
#ifndef XPOKE_PATCH_ENV_H
#define XPOKE_PATCH_ENV_H

#include "patch/validate.h"

extern const struct patch_env kernel_patch_env;

#endif
