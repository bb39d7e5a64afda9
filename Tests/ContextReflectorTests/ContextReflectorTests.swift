// Tests of the ContextReflector module (Tests/<Module>Tests mirrors Sources/<Module>).
