// Tests of the SimWorld module (Tests/<Module>Tests mirrors Sources/<Module>).
