// libsndfile (wav/flac/ogg) for the Media module.
#pragma once
#include <sndfile.h>
