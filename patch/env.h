/*
 * patch/env.h — the validation environment of the running kernel.
 */
#ifndef XPOKE_PATCH_ENV_H
#define XPOKE_PATCH_ENV_H

#include "patch/validate.h"

extern struct patch_env kernel_patch_env;      /* unchecked_targets: patch.unsafe_targets */

#endif
